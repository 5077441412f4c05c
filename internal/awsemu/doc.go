// Package awsemu is a wire-level AWS emulator for Cordon's tests, sandbox and demo.
//
// It owns an in-memory model of the small slice of EC2, IAM, Auto Scaling,
// Elastic Load Balancing (v2 and classic) and STS that containment runbooks
// touch, served over HTTP on 127.0.0.1 in the real AWS query protocols (and
// of the services below in theirs), so the
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
// # Accounts
//
// The emulator holds one world per AWS account (accounts.go). Every access
// key belongs to an account: a seeded user's key to the user's account
// ([UserSpec].Account), an AssumeRole session to its role's account
// ([RoleSpec].Account; cross-account AssumeRole works when the role's
// TrustedPrincipals name the caller or its account root), any other key
// to the default account (Options.AccountID). A call acts in its caller's
// account: it sees that account's instances, snapshots, roles, keys and
// commands only. [Emulator.AddAccount] makes an empty account,
// [Emulator.Accounts] lists them, [Emulator.AccountState] copies one, and
// GET /_emu/state?account=ID serves it. Across accounts, only what AWS
// allows and Cordon's forensic handover needs: shared snapshots, KMS keys
// whose policy names the other account, S3 buckets whose policy does, and
// SQS queues by URL. The detection services keep their state AWS-wide,
// keyed by account (and region), as their seeds name it.
//
// # Forensic services
//
// For evidence preservation it also speaks:
//
//   - S3 (REST-XML, path-style only: clients set UsePathStyle). Buckets
//     are one namespace for every account, owned by their creator; another
//     account reaches one only where its bucket policy allows (Allow/Deny
//     statements by principal, action and resource; statements with a
//     Condition are skipped). CreateBucket (with Object Lock), HeadBucket,
//     ListBuckets, Put/GetObjectLockConfiguration (default retention
//     GOVERNANCE or COMPLIANCE in days or years; Object Lock implies
//     versioning), Put/GetBucketVersioning, Put/GetBucketPolicy,
//     PutObject, GetObject, HeadObject (by key or versionId), DeleteObject
//     and ListObjectsV2. PutObject verifies Content-MD5,
//     x-amz-content-sha256 and the x-amz-checksum-* value (CRC32, CRC32C,
//     CRC64NVME, SHA1, SHA256) in a header or an aws-chunked trailer,
//     refusing a mismatch with BadDigest; without a checksum S3 stores a
//     CRC64NVME, as S3 does, and GetObject and HeadObject answer the stored
//     checksum when asked (x-amz-checksum-mode ENABLED), which the SDK then
//     validates. A version under retention cannot be deleted (AccessDenied;
//     GOVERNANCE yields to x-amz-bypass-governance-retention); a delete
//     without a version id adds a delete marker. Over plain HTTP the Go SDK
//     sends no checksum unless asked (ChecksumSHA256 or ChecksumAlgorithm)
//     and needs a seekable body. IAM actions are S3's own:
//     s3:GetObjectVersion for a GetObject naming a version,
//     s3:PutBucketObjectLockConfiguration for PutObjectLockConfiguration.
//     Throttled calls answer SlowDown. Objects stay in memory (64 MiB each
//     at most). Inspect with [Emulator.Buckets] and [Emulator.S3Object];
//     [Emulator.TamperObject] alters stored bytes behind S3's back, as a
//     chain of custody must catch.
//   - EC2 snapshots across accounts: encrypted volumes
//     ([InstanceSpec].EncryptedVolumes, VolumeKMSKeyID) give encrypted
//     snapshots; CopySnapshot re-encrypts (KmsKeyId needs Encrypted) and
//     completes like CreateSnapshot (SetSnapshotCompletion); a copy whose
//     source or destination key the caller may not use ends in state error
//     ("Given key ID is not accessible"), as EC2 checks keys
//     asynchronously. ModifySnapshotAttribute shares by createVolumePermission
//     (refused with OperationNotPermitted for the aws/ebs key, and publicly
//     for any encrypted snapshot); DescribeSnapshotAttribute lists it; the
//     other account sees shared snapshots in DescribeSnapshots
//     (RestorableByUserIds, OwnerIds) and copies them into its own account.
//   - KMS (awsJson 1.1): CreateKey, DescribeKey, ListKeys, CreateAlias,
//     ListAliases, Get/PutKeyPolicy. Each account has alias/aws/ebs (AWS
//     managed, its own account only) per region, made on first use; a
//     customer key's policy decides what other accounts may do with it.
//     Seed with [Emulator.AddKMSKey]; inspect with [Emulator.KMSKeys].
//   - SSM Run Command (awsJson 1.1): DescribeInstanceInformation,
//     SendCommand, ListCommandInvocations, GetCommandInvocation. Only
//     instances registered with [Emulator.SetSSMManaged] have an agent;
//     SendCommand to any other fails with InvalidInstanceId. What a
//     command does is up to a programmable agent, [Emulator.SetSSMResponder]:
//     output, exit code (non-zero: Failed), a run time on the emulator's
//     clock (InProgress until then), an execution timeout (TimedOut) and
//     the objects it uploads to S3, written when it succeeds as the
//     instance's role (the bucket must allow it; a refused upload fails
//     the invocation), with its stdout and stderr under OutputS3KeyPrefix
//     when it names an output bucket. [DefaultSSMResponder] echoes shell
//     commands, and treats a document named like Memory or a command
//     running avml, lime or insmod as a memory acquisition
//     ([MemoryAcquisition]): it uploads the instance's deterministic
//     [MemoryImage] to the s3:// URL in the command, else to
//     <OutputS3KeyPrefix>/<instance id>/memory.lime, and prints its
//     SHA-256. Tests and the demo recompute that image to check the
//     evidence; a responder that returns SSMResult{TimedOut: true} or an
//     exit code rehearses a capture that fails. Inspect with
//     [Emulator.SSMCommands].
//   - CloudTrail LookupEvents (awsJson 1.1): an account's history is every
//     management call the emulator served to that account's callers, in
//     the region they signed for (so "what did this access key do" is what
//     it really did), plus events added with [Emulator.AddCloudTrailEvent]
//     (the attacker's calls from before). One lookup attribute at most
//     (AccessKeyId, Username — an assumed role's session name —,
//     EventName, ResourceName, ResourceType, EventSource, ReadOnly,
//     EventId), StartTime/EndTime within 90 days, newest first,
//     MaxResults up to 50 and NextToken. Data events (S3 object calls, SQS
//     messages) are left out, as in CloudTrail's event history; unlike it,
//     a call appears at once, and only while the call log keeps it.
//
// Every service shares one pipeline: the caller is the identity of its
// access key (calls act in that key's account), [Emulator.Deny] refuses
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
