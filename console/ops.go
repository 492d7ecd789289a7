package console

// confirmView is the page that asks before a change that cannot be
// undone, or that would take the signed-in user's own access away: what
// will happen, a button that does it, and a way back.
type confirmView struct {
	Title string
	Lines []string
	// Action is where the button posts, with Fields as hidden inputs.
	Action string
	Fields map[string]string
	Button string
	// Danger draws the button red.
	Danger bool
	// Back is the page to go back to without a change.
	Back string
}
