package demo

import (
	"cmp"
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cordon-ir/cordon/evidence"
	"github.com/cordon-ir/cordon/internal/awsemu"
)

// tagHandoverSource is the tag aws.ec2.handover_snapshots puts on the
// forensic account's copy: the evidence snapshot it descends from.
const tagHandoverSource = "cordon:handover-source"

// forensicChecks say which parts of the forensic story the runbooks run:
// a check is made only of what they were asked to do.
type forensicChecks struct {
	memory, handover bool
}

// memorySHA256 is the hex SHA-256 of host id's memory as it really is:
// the image the emulator serves for it.
func memorySHA256(id string) string {
	return fmt.Sprintf("%x", sha256.Sum256(awsemu.MemoryImage(id, awsemu.DefaultMemoryImageBytes)))
}

// CheckEvidence checks the evidence the run left in the forensic account,
// on what the emulator holds there: each compromised host's memory image
// as the host's memory really is (the emulator's MemoryImage, recomputed
// here), a completed copy of every volume there, and every artefact of
// the case matching its manifest, as `cordon evidence verify` found (v, or
// the error that kept it from reading the manifest).
func CheckEvidence(story Story, did forensicChecks, after, forensic awsemu.State, v evidence.Verification, verr error) Checklist {
	var out Checklist
	objects := map[string]awsemu.S3Object{} // key → newest version
	for _, b := range forensic.Buckets {
		if b.Name != evidenceBucket {
			continue
		}
		for _, o := range b.Objects {
			if !o.IsDeleteMarker {
				objects[o.Key] = o
			}
		}
	}
	if did.memory {
		var bad, hashes []string
		for _, id := range story.Compromised {
			want := memorySHA256(id)
			found := false
			for key, o := range objects {
				if strings.Contains(key, "/"+id+"/memory/") && o.SHA256 == want {
					found = true
				}
			}
			if !found {
				bad = append(bad, "no memory image of "+id+" with SHA-256 "+want[:16]+"…")
			}
			hashes = append(hashes, id+" "+want[:12]+"…")
		}
		out = append(out, item("memory of every compromised host in the evidence store, as its memory really is (SHA-256)", bad, strings.Join(hashes, ", ")))
	}
	if did.handover {
		sourceVolume := map[string]string{} // evidence snapshot → volume
		for _, sn := range after.Snapshots {
			sourceVolume[sn.ID] = sn.VolumeID
		}
		copied := map[string]bool{} // volume → a completed copy in the forensic account
		for _, sn := range forensic.Snapshots {
			if vol := sourceVolume[sn.Tags[tagHandoverSource]]; vol != "" && sn.State == "completed" {
				copied[vol] = true
			}
		}
		var bad []string
		volumes, instances := 0, index(after).instances
		for _, id := range story.Compromised {
			for _, bd := range instances[id].BlockDevices {
				volumes++
				if !copied[bd.VolumeID] {
					bad = append(bad, id+" "+bd.VolumeID+" has no completed copy in the forensic account")
				}
			}
		}
		out = append(out, item("every volume of each compromised host copied into the forensic account (completed)", bad,
			fmt.Sprintf("%d volumes, account %s", volumes, forensicAccountID)))
	}
	var bad []string
	switch {
	case verr != nil:
		bad = append(bad, verr.Error())
	case len(v.Checks) == 0:
		bad = append(bad, "the manifest lists no artefact")
	}
	kinds := map[string]int{}
	for _, c := range v.Checks {
		kinds[c.Artefact.Kind]++
		if c.Verdict != evidence.Intact {
			bad = append(bad, fmt.Sprintf("%s %s: %s", c.Verdict, c.Artefact.Key, c.Detail))
		}
	}
	var counts []string
	for _, k := range slices.Sorted(maps.Keys(kinds)) {
		counts = append(counts, fmt.Sprintf("%d %s", kinds[k], k))
	}
	caseID := cmp.Or(v.Case, incidentID)
	out = append(out, item(fmt.Sprintf("every artefact of case %s matches its manifest (cordon evidence verify %s)", caseID, caseID), bad,
		fmt.Sprintf("%d artefacts (%s), manifest revision %d, sha256 %s…", len(v.Checks), strings.Join(counts, ", "), v.Manifest.Revision, shortHash(v.Manifest.SHA256))))
	return out
}
