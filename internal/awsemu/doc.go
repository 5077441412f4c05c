// Package awsemu is a wire-level AWS emulator for Cordon's tests, sandbox and demo.
//
// It owns an in-memory model of the small slice of EC2, IAM, Auto Scaling,
// Elastic Load Balancing (v2 and classic) and STS that containment runbooks
// touch, served over HTTP on 127.0.0.1 in the real AWS query protocols, so the
// unmodified aws-sdk-go-v2 clients work against it: they only need
// BaseEndpoint pointed at [Emulator.URL]. It also records every call (for
// "dry run mutates nothing" assertions and request-id timelines) and injects
// faults (latency, throttling, server errors, denied actions).
//
// It is never a production stand-in for AWS: signatures are parsed but not
// verified, IAM policies are not evaluated (only explicit [Emulator.Deny]
// rules), and each operation implements only the parameters Cordon uses.
// It must not be imported by runbooks/ or by anything that ships to talk to
// real AWS.
package awsemu
