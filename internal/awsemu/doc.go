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
// # Detection intake services
//
// For the detection intake it also speaks AWS's JSON protocols on the same
// address, told apart by the service each request is signed for:
//
//   - SQS (awsJson 1.0): CreateQueue, GetQueueUrl, GetQueueAttributes,
//     SetQueueAttributes, SendMessage(Batch), ReceiveMessage,
//     ChangeMessageVisibility, DeleteMessage(Batch), PurgeQueue, on
//     standard queues (FIFO queues, and SQS's legacy query protocol, are
//     refused). Queue URLs are http://<emulator host>/<account>/<name>;
//     only their path is read and the region is the one the call is signed
//     for, as the endpoint decides it in AWS. A received message is invisible for its visibility timeout,
//     then visible again to a receive that gives it a new receipt handle and
//     a higher ApproximateReceiveCount; only the latest handle deletes it (an
//     older one succeeds and deletes nothing, as the DeleteMessage reference
//     says). A message received maxReceiveCount times moves to the
//     RedrivePolicy's dead-letter queue on the next receive, keeping its id,
//     body and send time. Responses carry the MD5 digests the SDK checks.
//     ReceiveMessage long-polls for up to WaitTimeSeconds of real time: it
//     answers as soon as a message is there, when the wait is over by either
//     the real clock or the emulator's (a test that moves its clock past the
//     wait ends the poll), or when the client goes away. Visibility, delays
//     and retention follow the emulator's clock. Messages are received oldest
//     first, so tests are reproducible. Receiving and changing visibility
//     are not mutations in [Emulator.Mutations]; sending and deleting are.
//     Throttled calls answer RequestThrottled, denied ones AccessDenied
//     naming the permission.
//   - GuardDuty (restJson1): ListDetectors, GetFindings, ListFindings
//     (FindingCriteria on any dotted attribute with eq/neq and the numeric
//     bounds; timestamps compare as epoch milliseconds), ArchiveFindings
//     and UnarchiveFindings, per account and region. Findings are kept as
//     the JSON seeded, GuardDuty's camelCase shape (the detail of a
//     "GuardDuty Finding" event), and answered as they are; GetFindings
//     leaves out ids the detector does not hold, as the reference says.
//     Throttled calls answer ThrottlingException, denied ones
//     AccessDeniedException naming the permission.
//   - Security Hub (restJson1): GetFindings (the string filters Id,
//     ProductArn, AwsAccountId, Region, GeneratorId, Type, RecordState,
//     WorkflowStatus, SeverityLabel, ResourceId, ResourceType and a few more
//     with EQUALS, PREFIX, CONTAINS and their negations, combined as
//     Security Hub documents, and the Sample boolean filter; other filters
//     are refused, not ignored; SortCriteria, MaxResults, NextToken) and
//     BatchUpdateFindings (Workflow, Note, Severity, VerificationState,
//     Confidence, Criticality, Types, UserDefinedFields, RelatedFindings),
//     per account and region. Findings are ASFF, PascalCase, as seeded.
//     Until Security Hub is enabled in an account and region (by a seeded
//     finding or [Emulator.EnableSecurityHub]) calls there answer
//     InvalidAccessException. Throttled calls answer LimitExceededException
//     (HTTP 429), denied ones AccessDeniedException.
//   - AWS Health (awsJson 1.1): DescribeEventDetails (an unknown ARN goes to
//     failedSet with errorName NotFoundException, which the reference
//     leaves open) and DescribeAffectedEntities (filter.eventArns with
//     entityArns, entityValues and statusCodes). Health is global: events
//     are kept per account and found whatever region a call is signed for.
//     Times are epoch seconds on the wire, as the SDK reads them, where
//     EventBridge events carry RFC 1123 strings. Throttled calls answer
//     ThrottlingException, denied ones AccessDeniedException.
//
// Seed and inspect them with [Emulator.CreateQueue], [Emulator.SendToQueue],
// [Emulator.Queue], [Emulator.LongPolls], [Emulator.PutGuardDutyFinding],
// [Emulator.PutSecurityHubFinding], [Emulator.EnableSecurityHub] and
// [Emulator.PutHealthEvent].
//
// Every service shares one pipeline: the caller is the identity of its
// access key (calls act in the emulator's account), [Emulator.Deny] refuses
// an action naming it as AWS does, [Emulator.SetThrottling],
// [Emulator.FailNext], [Emulator.LoseResponses], [Emulator.SetLatency] and
// [Emulator.SetConsistencyLag] apply, and every call is in [Emulator.Calls].
//
// It is never a production stand-in for AWS: signatures are parsed but not
// verified, IAM policies are not evaluated (only explicit [Emulator.Deny]
// rules), and each operation implements only the parameters Cordon uses.
// It must not be imported by runbooks/ or by anything that ships to talk to
// real AWS.
package awsemu
