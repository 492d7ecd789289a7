package password

import (
	"bytes"
	"strings"
	"testing"
)

// Without a terminal, the password is one line of the input, without its
// line ending, and nothing is prompted.
func TestReadFromALine(t *testing.T) {
	for _, c := range []struct {
		in, want, err string // err: a substring of the error, "" for none
	}{
		{"correct horse\n", "correct horse", ""},
		{"correct horse\r\n", "correct horse", ""},
		{"correct horse", "correct horse", ""},
		{"first line\nsecond line\n", "first line", ""},
		{" spaced \n", " spaced ", ""},
		{strings.Repeat("x", MaxLen) + "\n", strings.Repeat("x", MaxLen), ""},
		{"", "", "no password on standard input"},
		{strings.Repeat("x", MaxLen+1), "", "longer than 1024 bytes"},
		{strings.Repeat("x", 4*MaxLen), "", "longer than 1024 bytes"},
	} {
		var prompts bytes.Buffer
		got, err := Read(strings.NewReader(c.in), &prompts, "Password: ")
		if c.err == "" && (err != nil || got != c.want) || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("Read(%.20q): got %.20q, %v; want %.20q, %q", c.in, got, err, c.want, c.err)
		}
		if prompts.Len() > 0 {
			t.Errorf("Read(%.20q) prompted %q without a terminal", c.in, prompts.String())
		}
	}
}
