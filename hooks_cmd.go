package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/referrald/referrald/adminclient"
	"github.com/referrald/referrald/config"
	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/paging"
	"github.com/referrald/referrald/store"
)

// hooksCommand runs `referrald hooks dead-letters|retry`. Like backup, it
// works on the store file when the server is stopped (a retry is then
// delivered at the next start) and through the admin API while it runs.
func hooksCommand(args []string, env config.Env, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "dead-letters" && args[0] != "retry" {
		fmt.Fprintln(stderr, "usage: referrald hooks dead-letters --plugin P | hooks retry --plugin P [EVENT_ID...]")
		return exitUsage
	}
	var plugin, baseURL *string
	fs, cfg, ok := commandFlags("hooks "+args[0], args[1:], env, stderr, func(fs *flag.FlagSet) {
		plugin = fs.String("plugin", "", "the plugin's configured name")
		baseURL = fs.String("url", "", "the running server's base URL (default: http://<listen>)")
	})
	if !ok {
		return exitUsage
	}
	if *plugin == "" {
		fmt.Fprintln(stderr, "referrald: hooks: --plugin is required")
		return exitUsage
	}
	err := storeOrServer(cfg, *baseURL, env.Get, "use the hooks",
		func(st *store.Store) error {
			// The server refuses a name it does not run; so does the file,
			// or a typo would queue nothing and still report success.
			if *plugin != model.MailConsumer && !slices.ContainsFunc(cfg.Hooks.Plugins, func(p config.PluginConfig) bool { return p.Name == *plugin }) {
				return fmt.Errorf("no hook plugin named %q is configured (hooks.plugins)", *plugin)
			}
			return runHooks(args[0], st, *plugin, fs.Args(), stdout, stderr)
		},
		func(api *adminclient.Client) error {
			return runHooks(args[0], api, *plugin, fs.Args(), stdout, stderr)
		})
	if err != nil {
		fmt.Fprintln(stderr, "referrald:", describe(err))
		return exitFailed
	}
	return exitOK
}

// runHooks lists a plugin's dead letters, or retries them, on hs.
func runHooks(cmd string, hs hookStore, plugin string, eventIDs []string, stdout, stderr io.Writer) error {
	ctx := cliContext()
	if cmd == "retry" {
		n, err := hs.RetryDeadLetters(ctx, plugin, eventIDs)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "queued %d dead letters of %s for delivery\n", n, plugin)
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT\tTYPE\tATTEMPTS\tFAILED\tLAST ERROR")
	deadLetters := func(ctx context.Context, opt model.ListOptions) (model.Page[*model.DeadLetter], error) {
		return hs.FindDeadLetters(ctx, plugin, opt)
	}
	for dl, err := range paging.All(ctx, deadLetters) {
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", dl.EventID, dl.EventType, dl.Attempts, dl.FailedAt.Format(model.TimeLayout), dl.LastError)
	}
	return tw.Flush()
}

// hookStore is the part of the hook admin the CLI needs; the store and
// the API client both provide it.
type hookStore interface {
	FindDeadLetters(ctx context.Context, plugin string, opt model.ListOptions) (model.Page[*model.DeadLetter], error)
	RetryDeadLetters(ctx context.Context, plugin string, eventIDs []string) (int, error)
}
