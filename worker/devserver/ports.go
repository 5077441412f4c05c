package devserver

import (
	"errors"
	"fmt"
	"net"
	"strconv"
)

// freePorts returns n distinct TCP ports that are free on ip.
//
// The Temporal server takes port numbers, not listeners, so a window between
// choosing a port and the server binding it cannot be avoided. Two things keep
// that window safe in practice:
//   - all n listeners are open at once, so the ports are distinct from each
//     other;
//   - each port is parked in TIME_WAIT before it is released (we connect to it
//     and close the accepted side first). Linux does not hand out a port in
//     TIME_WAIT to other bind(:0) callers for about a minute, while the
//     server, which binds the port by number with SO_REUSEADDR (Go's default),
//     still can.
//
// Start also retries with fresh ports if the server reports a bind failure.
func freePorts(ip string, n int) ([]int, error) {
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return nil, fmt.Errorf("find a free port on %s: %w", ip, err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range listeners {
		// Best effort: without TIME_WAIT the port is still free, just less
		// well protected against another process picking it.
		_ = parkInTimeWait(l)
	}
	return ports, nil
}

// parkInTimeWait connects to l and closes the accepted (server) side first,
// which leaves the listening port's address in TIME_WAIT.
func parkInTimeWait(l net.Listener) error {
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		_ = l.Close() // unblocks Accept
		<-accepted
		return fmt.Errorf("dial own listener: %w", err)
	}
	defer c.Close()
	s, ok := <-accepted
	if !ok {
		return errors.New("accept on own listener failed")
	}
	return s.Close()
}

// checkPortFree reports a clear error when an explicitly requested port is in
// use, before the server (or the UI server, which exits the process on a bind
// failure) tries it.
func checkPortFree(ip string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("port %d on %s is not available: %w", port, ip, err)
	}
	return l.Close()
}
