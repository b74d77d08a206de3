package shared

import (
	"errors"
	"strings"
)

// ErrInvalidPattern is returned for a subscription pattern that breaks the
// rules of MatchPattern.
var ErrInvalidPattern = errors.New("nova: invalid pattern")

// IsPattern reports whether s contains a wildcard token.
func IsPattern(s string) bool {
	return strings.Contains(s, "*") || strings.Contains(s, ">")
}

// ValidatePattern checks an event-type pattern. Tokens are separated by '.';
// none may be empty; '*' and '>' must stand alone as a whole token; '>' may
// only be the last token.
func ValidatePattern(p string) error {
	if p == "" {
		return errors.Join(ErrInvalidPattern, errors.New("pattern is empty"))
	}
	for rest := p; ; {
		tok, more, found := strings.Cut(rest, ".")
		switch {
		case tok == "":
			return errors.Join(ErrInvalidPattern, errors.New("empty token in "+p))
		case tok == ">" && found:
			return errors.Join(ErrInvalidPattern, errors.New("'>' must be the last token in "+p))
		case tok != "*" && tok != ">" && strings.ContainsAny(tok, "*>"):
			return errors.Join(ErrInvalidPattern, errors.New("wildcard inside token "+tok+" in "+p))
		}
		if !found {
			return nil
		}
		rest = more
	}
}

// MatchPattern reports whether subject matches pattern, using the NATS
// subject convention: tokens separated by '.', '*' matches exactly one token
// and '>' (last) matches one or more. "order.*" matches "order.created" but
// not "order.item.added"; "order.>" matches both but not "order". A pattern
// without wildcards matches only itself. It does not allocate.
func MatchPattern(pattern, subject string) bool {
	for {
		ptok, prest, pmore := strings.Cut(pattern, ".")
		if ptok == ">" {
			return subject != ""
		}
		if subject == "" {
			return false
		}
		stok, srest, smore := strings.Cut(subject, ".")
		if ptok != "*" && ptok != stok {
			return false
		}
		if !pmore || !smore {
			return pmore == smore
		}
		pattern, subject = prest, srest
	}
}
