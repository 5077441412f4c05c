// Package evidence is Cordon's evidence store: the artefacts of a case
// (memory images, triage outputs, describe results, console output,
// CloudTrail extracts, snapshot ids) kept in an S3 bucket with Object Lock
// in the forensic account, each written with a SHA-256 that S3 verifies on
// receipt, and listed in the case's manifest: what each artefact is, where
// it is (bucket, key, version id), its SHA-256 and size, when it was
// collected, by which run and step, under whose approval. The report's
// chain of custody and `cordon evidence verify` read that manifest.
//
// # Layout
//
// For a store with prefix P, the artefacts of case C are under
// P + C + "/", one key per artefact:
//
//	P C/<subject>/<kind>/<run>/<step>/<name>     an artefact
//	P C/manifest.json                            the case's manifest
//
// The manifest is a JSON object (Manifest) rewritten whole on each update,
// with its own SHA-256 checksum and under the same retention, so every
// revision stays in the bucket as a locked version. Updates are
// conditional writes (If-None-Match for the first, If-Match on the ETag
// read for the next), so workers recording artefacts of one case at once
// never lose each other's entries: a writer that lost the race reads the
// manifest again and retries.
//
// # Trust
//
// The SHA-256 in the manifest is always one Cordon computed: over the
// bytes it wrote itself (Put), or over the bytes it read back from the
// bucket (Adopt: a memory image the host uploaded). What a compromised
// host prints about its own output is compared with it, never trusted
// instead of it. Object Lock keeps every version, so an artefact altered
// later is a new version or bytes changed behind S3's back, and Verify,
// which reads each artefact again by its version id, names it.
//
// # What it must not do
//
// It knows nothing of runs, Temporal or the action catalog: it takes the
// S3 calls it needs (API) and the facts of an artefact's collection
// (Item) from its caller, and returns errors that name the S3 permission
// of the call that failed (OpError). It never deletes anything.
package evidence
