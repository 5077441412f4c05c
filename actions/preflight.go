package actions

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// MissingInstances says which of ids do not exist in the target's account
// and region (and the region it looked in): a read, one DescribeInstances
// call filtered by instance id (paged past 1000), so an id that does not
// exist is simply not returned rather than failing the call. The worker
// asks it before a run starts (worker.PlanSource), so a mistyped id is
// refused in one line instead of failing at the first step.
func (r *Runtime) MissingInstances(ctx context.Context, target Target, run RunRef, ids []string) (missing []string, region string, err error) {
	if r.opts.Clients == nil {
		return nil, "", errors.New("no AWS client source")
	}
	c, err := r.opts.Clients.Clients(ctx, target, run)
	if err != nil {
		return nil, "", err
	}
	region = c.EC2.Options().Region
	found := map[string]bool{}
	pages := ec2.NewDescribeInstancesPaginator(c.EC2, &ec2.DescribeInstancesInput{
		Filters: []ec2types.Filter{{Name: aws.String("instance-id"), Values: ids}},
	})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, region, classify("check that the instances exist", "ec2:DescribeInstances", err)
		}
		for _, res := range out.Reservations {
			for _, in := range res.Instances {
				found[aws.ToString(in.InstanceId)] = true
			}
		}
	}
	for _, id := range ids {
		if !found[id] {
			missing = append(missing, id)
		}
	}
	return missing, region, nil
}
