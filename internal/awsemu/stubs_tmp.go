package awsemu

func iamOperations() []operation         { return nil }
func autoScalingOperations() []operation { return nil }
func elbOperations() []operation         { return nil }
func stsOperations() []operation         { return nil }
