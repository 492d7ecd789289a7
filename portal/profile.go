package portal

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/referrald/referrald/model"
)

// An ambassador's profile: they may change their first name, last name
// and school, and nothing else (their email and status are the program
// manager's). The change goes through the same model validation and
// service call as the API's, with the ambassador as the audited actor.

// input is one labelled input of the profile form.
type input struct {
	// Name is the input's name and the model's field name.
	Name, Label, Hint, Autocomplete string
	Required                        bool
	Value, Error                    string
}

// ID is the input's HTML id.
func (in input) ID() string { return "f-" + in.Name }

type profileView struct {
	Email  string
	Inputs []input
	// Problems is the summary of the form's problems, in page order.
	Problems []input
	// Failure is a problem with the form as a whole.
	Failure string
}

// profileForm is the profile form with values.
func profileForm(first, last, school string) []input {
	return []input{
		{Name: "first_name", Label: "First name", Autocomplete: "given-name", Required: true, Value: first},
		{Name: "last_name", Label: "Last name", Autocomplete: "family-name", Required: true, Value: last},
		{Name: "school", Label: "School", Hint: "Optional. Where you study, as you would say it.", Autocomplete: "organization", Value: school},
	}
}

// handleProfile serves GET /portal/profile.
func (s *Server) handleProfile(w http.ResponseWriter, r *http.Request) error {
	amb := ambOf(r)
	school := ""
	if amb.School != nil {
		school = *amb.School
	}
	return s.render(w, r, http.StatusOK, "profile", profileView{Email: amb.Email, Inputs: profileForm(amb.FirstName, amb.LastName, school)})
}

// handleProfileUpdate serves POST /portal/profile: it reads the three
// fields an ambassador may change, and only those, whatever else the form
// holds; on a problem the form is shown again with the values kept and
// each message beside its input (422).
func (s *Server) handleProfileUpdate(w http.ResponseWriter, r *http.Request) error {
	amb := ambOf(r)
	if err := r.ParseForm(); err != nil {
		return model.Errorf(model.EValidation, "the form could not be read")
	}
	first, last, school := r.PostFormValue("first_name"), r.PostFormValue("last_name"), r.PostFormValue("school")
	v := profileView{Email: amb.Email, Inputs: profileForm(first, last, school)}
	u := model.PortalProfile{FirstName: &first, LastName: &last, School: &school}.Update()
	err := u.Validate().Err()
	if err == nil {
		_, err = s.svc.Ambassadors.UpdateAmbassador(r.Context(), amb.ID, u)
	}
	var e *model.Error
	switch {
	case err == nil:
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "portal profile saved", slog.String("ambassador_id", amb.ID))
		return s.redirect(w, r, "/portal/profile", "Your profile is saved.")
	case errors.As(err, &e) && e.Code == model.EValidation:
		for _, fe := range e.Fields {
			placed := false
			for i := range v.Inputs {
				if v.Inputs[i].Name == fe.Field && v.Inputs[i].Error == "" {
					v.Inputs[i].Error, placed = fe.Message, true
				}
			}
			if !placed && v.Failure == "" {
				v.Failure = sentence(fe.Field + " " + fe.Message)
			}
		}
		if len(e.Fields) == 0 {
			v.Failure = sentence(e.Message)
		}
		for _, in := range v.Inputs {
			if in.Error != "" {
				v.Problems = append(v.Problems, in)
			}
		}
		return s.render(w, r, http.StatusUnprocessableEntity, "profile", v)
	}
	return err
}
