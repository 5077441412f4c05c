package actions

import (
	"context"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
)

// registeredClassicELBs lists the classic load balancers the instance is
// registered with.
func registeredClassicELBs(ctx context.Context, x *execution, instanceID string) ([]string, error) {
	var found []string
	pages := elb.NewDescribeLoadBalancersPaginator(x.aws.ELB, &elb.DescribeLoadBalancersInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, classify("list classic load balancers", "elasticloadbalancing:DescribeLoadBalancers", err)
		}
		for _, lb := range page.LoadBalancerDescriptions {
			for _, in := range lb.Instances {
				if aws.ToString(in.InstanceId) == instanceID {
					found = append(found, aws.ToString(lb.LoadBalancerName))
				}
			}
		}
	}
	sort.Strings(found)
	return found, nil
}
