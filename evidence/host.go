package evidence

// HostPrefix is where a case's artefacts of subject (an instance id) go,
// as Key makes their keys: the one prefix a compromised host is let write
// to, through the forensic instance profile, for what it uploads itself
// (a memory image, a command's output). Nothing outside it, and nothing of
// another case or host.
func (c Config) HostPrefix(caseName, subject string) string {
	return c.WithDefaults().Prefix + segment(caseName) + "/" + segment(subject) + "/"
}
