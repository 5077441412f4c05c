package actions

import "github.com/cordon-ir/cordon/actions/wire"

// The workflow↔activity vocabulary lives in package wire, which has no
// dependencies; the actions speak it under these names.
type (
	Mode   = wire.Mode
	Call   = wire.Call
	Target = wire.Target
	RunRef = wire.RunRef
	Result = wire.Result
	Change = wire.Change
)

// Modes.
const (
	Execute = wire.Execute
	Preview = wire.Preview
)
