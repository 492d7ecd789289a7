package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/referrald/referrald/config"
	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/paging"
	"github.com/referrald/referrald/password"
	"github.com/referrald/referrald/store"
)

const usersUsage = "usage: referrald users create --email EMAIL --role owner|manager|viewer (password on standard input)" +
	" | users list | users disable --email EMAIL"

// usersCommand runs `referrald users create|list|disable` on the store
// file: the console's users, for a first owner made before the server
// starts, or one locked out of the console. The password is read from
// stdin, never from a flag or the environment, where other users of the
// machine could see it. `users create` is a set-up step, so it makes the
// store when there is none.
func usersCommand(args []string, env config.Env, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usersUsage)
		return exitUsage
	}
	cmd := args[0]
	if cmd != "create" && cmd != "list" && cmd != "disable" {
		fmt.Fprintf(stderr, "referrald: unknown users command %q\n", cmd)
		return exitUsage
	}
	var email, role *string
	fs, cfg, ok := commandFlags("users "+cmd, args[1:], env, stderr, func(fs *flag.FlagSet) {
		if cmd != "list" {
			email = fs.String("email", "", "the user's email")
		}
		if cmd == "create" {
			role = fs.String("role", "", "owner, manager or viewer")
		}
	})
	if !ok {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "referrald: users %s takes no arguments (the password is read from standard input)\n", cmd)
		return exitUsage
	}
	if email != nil && strings.TrimSpace(*email) == "" {
		fmt.Fprintf(stderr, "referrald: users %s: --email is required\n", cmd)
		return exitUsage
	}
	if role != nil && !model.Role(*role).Valid() {
		fmt.Fprintln(stderr, "referrald: users create: --role must be owner, manager or viewer")
		return exitUsage
	}
	open := openExisting
	if cmd == "create" {
		open = openStore
	}
	st, err := open(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "referrald:", err)
		if errors.Is(err, store.ErrLocked) {
			fmt.Fprintln(stderr, "referrald: while the server runs, manage console users in the web console, or stop the server to use this command")
		}
		return exitFailed
	}
	defer st.Close()
	ctx := cliContext()

	switch cmd {
	case "create":
		pw, err := password.Read(stdin, stderr, fmt.Sprintf("Password for %s (at least %d characters; not shown as you type): ", *email, model.MinPasswordLen))
		if errors.Is(err, password.ErrMismatch) {
			err = fmt.Errorf("%w; nothing was created", err)
		}
		if err != nil {
			fmt.Fprintln(stderr, "referrald:", err)
			return exitUsage
		}
		u, err := st.CreateUser(ctx, model.UserCreate{Email: *email, Role: model.Role(*role), Password: pw})
		if err != nil {
			fmt.Fprintln(stderr, "referrald:", describe(err))
			if model.ErrorCode(err) == model.EValidation {
				return exitUsage
			}
			return exitFailed
		}
		fmt.Fprintf(stderr, "created console user %s (%s, role %s)\n", u.ID, u.Email, u.Role)
		fmt.Fprintln(stdout, u.ID)
	case "list":
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tROLE\tCREATED\tLAST SIGN-IN\tDISABLED")
		for u, err := range paging.All(ctx, st.FindUsers) {
			if err != nil {
				fmt.Fprintln(stderr, "referrald:", err)
				return exitFailed
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.ID, u.Email, u.Role, u.CreatedAt.Format(model.TimeLayout),
				optTime(u.LastSignInAt), optTime(u.DisabledAt))
		}
		tw.Flush()
	case "disable":
		u, err := st.FindUserByEmail(ctx, *email)
		if err != nil {
			fmt.Fprintln(stderr, "referrald:", describe(err))
			return exitFailed
		}
		if u.DisabledAt != nil {
			fmt.Fprintf(stderr, "%s (%s) was already disabled, at %s\n", u.ID, u.Email, u.DisabledAt.Format(model.TimeLayout))
			return exitOK
		}
		disabled := true
		if u, err = st.UpdateUser(ctx, u.ID, model.UserUpdate{Disabled: &disabled}); err != nil {
			fmt.Fprintln(stderr, "referrald:", describe(err))
			return exitFailed
		}
		fmt.Fprintf(stderr, "disabled %s (%s); their sessions have ended\n", u.ID, u.Email)
	}
	return exitOK
}

// optTime is a listing's column for an optional time: the time, or "-".
func optTime(t *model.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(model.TimeLayout)
}
