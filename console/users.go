package console

import (
	"fmt"
	"net/http"

	"github.com/referrald/referrald/model"
)

// Console users: the list, the form that adds someone, and each user's
// page, where an owner changes their role, disables or enables them,
// sets a new password and ends their sessions. Owners only.
//
// The store keeps one enabled owner at least, and refuses (conflict) the
// change that would leave none; the page says so. An owner can still
// take their own access away while another owner remains, so demoting or
// disabling yourself asks first.
//
// Your own password is changed on the account page, which asks for the
// current one: a session left open on a shared computer must not be
// enough to take the account over.

// roles are the roles the forms offer, most power last, with what each
// may do.
var roles = []roleChoice{
	{model.RoleViewer, "Viewer", "sees everything the console shows, and changes nothing"},
	{model.RoleManager, "Manager", "also runs programs, ambassadors, posters, referrals and money"},
	{model.RoleOwner, "Owner", "also manages console users, API keys and hook plugins"},
}

// roleChoice is one role the forms offer.
type roleChoice struct {
	Role        model.Role
	Label, Hint string
}

// The new user form.
var userFields = []*field{
	{Name: "email", Label: "Email", Type: "email", Required: true, Autocomplete: "off", Hint: "They sign in with it."},
	{Name: "role", Label: "Role"},
	{Name: "password", Label: "Password", Type: "password", Required: true, Autocomplete: "new-password",
		Hint: fmt.Sprintf("At least %d characters. Tell it to them in person or over a channel you trust; they can change it on their account page.", model.MinPasswordLen)},
	{Name: "confirm", Label: "Password again", Type: "password", Required: true, Autocomplete: "new-password"},
}

// The forms of a user's page.
var (
	userRoleFields     = []*field{{Name: "role", Label: "Role"}}
	userPasswordFields = []*field{
		{Name: "password", Label: "New password", Type: "password", Required: true, Autocomplete: "new-password",
			Hint: fmt.Sprintf("At least %d characters. Their sessions end, so they sign in again with it.", model.MinPasswordLen)},
		{Name: "confirm", Label: "New password again", Type: "password", Required: true, Autocomplete: "new-password"},
	}
)

type userListView struct {
	Users []*model.User
	Me    string
	Next  string
}

// handleUserList serves GET /console/users?cursor=: every user, newest
// first, disabled ones too.
func (s *Server) handleUserList(w http.ResponseWriter, r *http.Request) error {
	opt := model.ListOptions{Limit: model.MaxListLimit, Cursor: r.URL.Query().Get("cursor")}
	page, err := s.svc.Users.FindUsers(r.Context(), opt)
	if model.ErrorCode(err) == model.EValidation { // a cursor from elsewhere
		opt.Cursor = ""
		page, err = s.svc.Users.FindUsers(r.Context(), opt)
	}
	if err != nil {
		return err
	}
	v := userListView{Users: page.Data, Me: userOf(r).ID}
	if page.HasMore && page.NextCursor != nil {
		v.Next = "/console/users?cursor=" + *page.NextCursor
	}
	return s.render(w, r, http.StatusOK, "users", v)
}

type userFormView struct {
	Form  *form
	Roles []roleChoice
}

// handleUserNew serves GET /console/users/new.
func (s *Server) handleUserNew(w http.ResponseWriter, r *http.Request) error {
	f := newForm(userFields...)
	f.Set("role", string(model.RoleViewer))
	return s.render(w, r, http.StatusOK, "user_form", userFormView{Form: f, Roles: roles})
}

// handleUserCreate serves POST /console/users/new.
func (s *Server) handleUserCreate(w http.ResponseWriter, r *http.Request) error {
	f := newForm(userFields...).read(r)
	v := userFormView{Form: f, Roles: roles}
	in := model.UserCreate{Email: f.Get("email"), Role: model.Role(f.Get("role")), Password: f.Get("password")}
	confirm := f.Get("confirm")
	f.Set("password", "") // never sent back
	f.Set("confirm", "")
	fe := in.Validate()
	if !fe.Has("password") && confirm != in.Password {
		fe.Add("confirm", model.FInvalidValue, "does not match the password")
	}
	if f.fromError(fe.Err()) {
		return s.renderForm(w, r, "user_form", v)
	}
	u, err := s.svc.Users.CreateUser(r.Context(), in)
	if model.ErrorCode(err) == model.EConflict {
		f.AddError("email", "belongs to a console user already")
		return s.renderForm(w, r, "user_form", v)
	} else if f.fromError(err) {
		return s.renderForm(w, r, "user_form", v)
	} else if err != nil {
		return err
	}
	return s.redirect(w, r, "/console/users/"+u.ID, u.Email+" can sign in now, as "+string(u.Role)+".")
}

type userView struct {
	User *model.User
	// Self is set on the signed-in user's own page.
	Self     bool
	Roles    []roleChoice
	Role     *form
	Password *form
	// Problem is a change the store refused, such as demoting the last
	// owner.
	Problem string
}

// userPage is the view of u's page for the request, with empty forms.
func userPage(r *http.Request, u *model.User) userView {
	v := userView{User: u, Self: u.ID == userOf(r).ID, Roles: roles, Role: newForm(userRoleFields...),
		Password: newForm(userPasswordFields...)}
	v.Role.Set("role", string(u.Role))
	return v
}

// handleUserGet serves GET /console/users/{id}.
func (s *Server) handleUserGet(w http.ResponseWriter, r *http.Request) error {
	u, err := s.svc.Users.FindUserByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "user", userPage(r, u))
}

// updateUser makes the change u to the user of the page, or shows the
// page again with why it cannot be made. It returns the user changed,
// or nil when it answered the request.
func (s *Server) updateUser(w http.ResponseWriter, r *http.Request, v userView, up model.UserUpdate) (*model.User, error) {
	u, err := s.svc.Users.UpdateUser(r.Context(), v.User.ID, up)
	if model.ErrorCode(err) == model.EConflict {
		v.Problem = v.User.Email + " is the last enabled owner, and referrald needs one to manage users, keys and hooks. " +
			"Make another user an owner first."
		return nil, s.render(w, r, http.StatusConflict, "user", v)
	}
	if err != nil {
		return nil, err
	}
	return u, nil
}

// handleUserRole serves POST /console/users/{id}/role. Demoting yourself
// asks first (confirm=yes).
func (s *Server) handleUserRole(w http.ResponseWriter, r *http.Request) error {
	u, err := s.svc.Users.FindUserByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	v := userPage(r, u)
	f := v.Role.read(r)
	role := model.Role(f.Get("role"))
	up := model.UserUpdate{Role: &role}
	if f.fromError(up.Validate().Err()) {
		return s.renderForm(w, r, "user", v)
	}
	if role == u.Role {
		s.setFlash(w, r, flashInfo, u.Email+" is a "+string(role)+" already.")
		return s.redirect(w, r, "/console/users/"+u.ID, "")
	}
	if v.Self && r.PostForm.Get("confirm") != "yes" {
		return s.render(w, r, http.StatusOK, "ops_confirm", confirmView{
			Title: "Make yourself a " + string(role) + "?",
			Lines: []string{
				"You will no longer be an owner: you will not be able to manage users, API keys or hook plugins, or to make yourself an owner again.",
				"Only another owner can give the role back.",
			},
			Action: "/console/users/" + u.ID + "/role", Fields: map[string]string{"role": string(role), "confirm": "yes"},
			Button: "Make me a " + string(role), Danger: true, Back: "/console/users/" + u.ID,
		})
	}
	changed, err := s.updateUser(w, r, v, up)
	if changed == nil {
		return err
	}
	if v.Self {
		return s.redirect(w, r, "/console/account", "You are a "+string(role)+" now.")
	}
	return s.redirect(w, r, "/console/users/"+u.ID, u.Email+" is a "+string(role)+" now.")
}

// handleUserDisable serves POST /console/users/{id}/disable: the user
// cannot sign in, and their sessions end. Disabling yourself asks first
// (confirm=yes), and signs you out.
func (s *Server) handleUserDisable(w http.ResponseWriter, r *http.Request) error {
	u, err := s.svc.Users.FindUserByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	v := userPage(r, u)
	if err := r.ParseForm(); err != nil {
		return model.Errorf(model.EValidation, "The form could not be read. Reload the page and try again.")
	}
	if u.DisabledAt != nil {
		s.setFlash(w, r, flashInfo, u.Email+" is disabled already.")
		return s.redirect(w, r, "/console/users/"+u.ID, "")
	}
	if v.Self && r.PostForm.Get("confirm") != "yes" {
		return s.render(w, r, http.StatusOK, "ops_confirm", confirmView{
			Title: "Disable your own account?",
			Lines: []string{
				"You will be signed out at once, everywhere, and will not be able to sign in again.",
				"Only another owner can enable your account again.",
			},
			Action: "/console/users/" + u.ID + "/disable", Fields: map[string]string{"confirm": "yes"},
			Button: "Disable my account", Danger: true, Back: "/console/users/" + u.ID,
		})
	}
	disabled := true
	changed, err := s.updateUser(w, r, v, model.UserUpdate{Disabled: &disabled})
	if changed == nil {
		return err
	}
	if v.Self {
		s.clearSessionCookie(w, r)
		s.setFlash(w, r, flashInfo, "Your account is disabled, and you are signed out.")
		return s.redirect(w, r, "/console/login", "")
	}
	return s.redirect(w, r, "/console/users/"+u.ID, u.Email+" is disabled: they cannot sign in, and their sessions have ended.")
}

// handleUserEnable serves POST /console/users/{id}/enable.
func (s *Server) handleUserEnable(w http.ResponseWriter, r *http.Request) error {
	u, err := s.svc.Users.FindUserByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if u.DisabledAt == nil {
		s.setFlash(w, r, flashInfo, u.Email+" is enabled already.")
		return s.redirect(w, r, "/console/users/"+u.ID, "")
	}
	enabled := false
	if _, err := s.svc.Users.UpdateUser(r.Context(), u.ID, model.UserUpdate{Disabled: &enabled}); err != nil {
		return err
	}
	return s.redirect(w, r, "/console/users/"+u.ID, u.Email+" can sign in again.")
}

// handleUserPassword serves POST /console/users/{id}/password: an owner
// sets someone's new password (they forgot theirs), which ends their
// sessions. Not their own: that needs the current one, on the account
// page.
func (s *Server) handleUserPassword(w http.ResponseWriter, r *http.Request) error {
	u, err := s.svc.Users.FindUserByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	v := userPage(r, u)
	f := v.Password.read(r)
	password, confirm := f.Get("password"), f.Get("confirm")
	f.Set("password", "") // never sent back
	f.Set("confirm", "")
	if v.Self {
		f.Fail("Change your own password on your account page: it asks for your current one.")
		return s.renderForm(w, r, "user", v)
	}
	up := model.UserUpdate{Password: &password}
	fe := up.Validate()
	if !fe.Has("password") && confirm != password {
		fe.Add("confirm", model.FInvalidValue, "does not match the password")
	}
	if f.fromError(fe.Err()) {
		return s.renderForm(w, r, "user", v)
	}
	if _, err := s.svc.Users.UpdateUser(r.Context(), u.ID, up); f.fromError(err) {
		return s.renderForm(w, r, "user", v)
	} else if err != nil {
		return err
	}
	return s.redirect(w, r, "/console/users/"+u.ID, u.Email+" has a new password, and their sessions have ended. Tell them the password over a channel you trust.")
}

// handleUserSignOut serves POST /console/users/{id}/sign-out-everywhere:
// every session of the user ends (a lost phone, a shared computer). For
// your own, you are signed out too, as on the account page.
func (s *Server) handleUserSignOut(w http.ResponseWriter, r *http.Request) error {
	u, err := s.svc.Users.FindUserByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if u.ID == userOf(r).ID {
		return s.handleSignOutEverywhere(w, r)
	}
	if err := s.svc.Users.EndUserSessions(r.Context(), u.ID); err != nil {
		return err
	}
	return s.redirect(w, r, "/console/users/"+u.ID, "Every session of "+u.Email+" has ended: they sign in again to go on.")
}

// The account page's password form.
var accountPasswordFields = []*field{
	{Name: "current", Label: "Current password", Type: "password", Required: true, Autocomplete: "current-password"},
	{Name: "password", Label: "New password", Type: "password", Required: true, Autocomplete: "new-password",
		Hint: fmt.Sprintf("At least %d characters. A few unrelated words make a strong one.", model.MinPasswordLen)},
	{Name: "confirm", Label: "New password again", Type: "password", Required: true, Autocomplete: "new-password"},
}

// handleAccountPassword serves POST /console/account/password: the
// signed-in user changes their password, with their current one. Every
// session of theirs ends, as the store does on a new password; this
// browser then gets a fresh one, so the person who changed it stays
// signed in here and nowhere else.
func (s *Server) handleAccountPassword(w http.ResponseWriter, r *http.Request) error {
	si := signedInOf(r)
	f := newForm(accountPasswordFields...).read(r)
	v := s.accountPage(si)
	v.Password = f
	current, password, confirm := f.Get("current"), f.Get("password"), f.Get("confirm")
	for _, name := range []string{"current", "password", "confirm"} {
		f.Set(name, "") // never sent back
	}
	up := model.UserUpdate{Password: &password}
	fe := up.Validate()
	if current == "" {
		fe.Add("current", model.FRequired, "is required")
	}
	if !fe.Has("password") && confirm != password {
		fe.Add("confirm", model.FInvalidValue, "does not match the new password")
	}
	if f.fromError(fe.Err()) {
		return s.renderForm(w, r, "account", v)
	}
	// The current password is checked like a sign-in, with its limits:
	// a session left open must not be a way to guess it.
	if wait, ok := s.takeSignInTokens(r, si.user.Email); !ok {
		f.Fail(fmt.Sprintf("Too many wrong passwords. Wait %s and try again.", minutes(wait)))
		return s.render(w, r, http.StatusTooManyRequests, "account", v)
	}
	if _, err := s.svc.Users.Authenticate(r.Context(), si.user.Email, current); model.ErrorCode(err) == model.EUnauthorized {
		f.AddError("current", "is not right")
		return s.renderForm(w, r, "account", v)
	} else if err != nil {
		return err
	}
	s.returnSignInTokens(r, si.user.Email)
	u, err := s.svc.Users.UpdateUser(r.Context(), si.user.ID, up)
	if f.fromError(err) {
		return s.renderForm(w, r, "account", v)
	} else if err != nil {
		return err
	}
	if err := s.startSession(w, r, u); err != nil {
		return err
	}
	return s.redirect(w, r, "/console/account", "Your password is changed. Every other session of yours has ended; you stay signed in here.")
}
