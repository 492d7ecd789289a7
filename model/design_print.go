package model

// The rules of a design that depend on more than the fields an update
// sets: the logo it has, and the names of the ambassadors it prints.

// CheckLogoInQR reports an update that puts the logo in the QR codes of a
// design that will have no logo once u is saved.
func (u *PosterDesignUpdate) CheckLogoInQR(fe *FieldErrors, hasLogo bool) {
	if u.LogoInQR != nil && *u.LogoInQR && !hasLogo && !fe.Has("logo_in_qr") {
		fe.Add("logo_in_qr", FInvalidValue, "needs a logo: upload the logo first")
	}
}

// CheckName reports why posters of design d cannot print firstName, an
// ambassador's first name: nil when they can, or when d shows no names.
// A name is typed elsewhere (an import, the portal), so it is checked
// where it is printed.
func (d *PosterDesign) CheckName(firstName string) error {
	if !d.ShowAmbassadorName {
		return nil
	}
	return Printable(firstName)
}
