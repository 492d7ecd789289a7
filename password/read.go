package password

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// ErrMismatch is Read's error for a password typed twice, differently.
var ErrMismatch = errors.New("the two passwords differ")

// Read reads a new password for the command line: from a terminal, after
// prompt on w, twice and without echo; else one line of r, without its
// line ending.
func Read(r io.Reader, w io.Writer, prompt string) (string, error) {
	if f, ok := r.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		read := func(prompt string) (string, error) {
			fmt.Fprint(w, prompt)
			pw, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(w)
			return string(pw), err
		}
		pw, err := read(prompt)
		if err != nil {
			return "", fmt.Errorf("cannot read the password: %w", err)
		}
		again, err := read("The same password again: ")
		if err != nil {
			return "", fmt.Errorf("cannot read the password: %w", err)
		}
		if pw != again {
			return "", ErrMismatch
		}
		return pw, nil
	}
	// One line, bounded: a line ending beyond the bound means a password
	// too long to hash, or a file that is not one.
	line, err := bufio.NewReader(io.LimitReader(r, MaxLen+2)).ReadString('\n')
	switch {
	case err != nil && err != io.EOF:
		return "", fmt.Errorf("cannot read the password from standard input: %w", err)
	case line == "":
		return "", errors.New("no password on standard input: give it as one line, e.g. from a password manager's command line or a file")
	case err == io.EOF && len(line) > MaxLen:
		return "", fmt.Errorf("the password on standard input is longer than %d bytes", MaxLen)
	}
	return strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"), nil
}
