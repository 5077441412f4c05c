package devserver_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/cordon-ir/cordon/worker/devserver"
)

// Start a throw-away server and dial it, as an end-to-end test does.
// `cordon dev` passes DBFile (and FrontendPort 7233) so that runs survive a
// restart.
func ExampleStart() {
	ctx := context.Background()
	srv, err := devserver.Start(ctx, devserver.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Stop()

	c, err := client.Dial(client.Options{
		HostPort:  srv.FrontendAddress(),
		Namespace: srv.Namespace(),
		Logger:    sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	host, _, _ := net.SplitHostPort(srv.FrontendAddress())
	fmt.Println(srv.Namespace(), host)
	// Output: default 127.0.0.1
}
