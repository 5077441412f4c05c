package devserver

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"
)

// uiServer is the Temporal Web UI (its assets are embedded in the ui-server
// module) serving on addr and talking gRPC to the frontend.
type uiServer struct {
	srv  *uiserver.Server
	addr string
	done chan struct{}
}

func startUI(ctx context.Context, ip, host string, port int, frontendAddr, namespace string) (*uiServer, error) {
	// The UI server exits the whole process when it cannot bind (it logs the
	// error at Fatal), so a port that is already taken must be caught here.
	if err := checkPortFree(ip, port); err != nil {
		return nil, fmt.Errorf("temporal dev server UI: %w (choose another port, or 0 for a free one)", err)
	}
	cfg := &uiconfig.Config{
		TemporalGRPCAddress: frontendAddr,
		Host:                ip,
		Port:                port,
		EnableUI:            true,
		DefaultNamespace:    namespace,
		// Plain HTTP on loopback: a Secure CSRF cookie would never be sent
		// back, and every write action in the UI would fail.
		CORS: uiconfig.CORS{CookieInsecure: true},
		// The responder's terminal is for Cordon's output, not an access log.
		HideLogs: true,
		// This machine may have no route to the internet.
		DisableNewsFetch: true,
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("temporal dev server UI: config: %w", err)
	}
	u := &uiServer{
		srv:  uiserver.NewServer(uioptions.WithConfigProvider(cfg)),
		addr: net.JoinHostPort(host, strconv.Itoa(port)),
		done: make(chan struct{}),
	}
	go func() {
		defer close(u.done)
		// Start blocks until stop; it returns nil once the server is closed.
		_ = u.srv.Start()
	}()
	if err := waitListening(ctx, u.addr); err != nil {
		u.stop()
		return nil, fmt.Errorf("temporal dev server UI: %w", err)
	}
	return u, nil
}

func (u *uiServer) stop() {
	u.srv.Stop()
	<-u.done
}

// waitListening returns once something accepts TCP connections on addr.
func waitListening(ctx context.Context, addr string) error {
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not listening: %w (last error: %v)", addr, ctx.Err(), err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
