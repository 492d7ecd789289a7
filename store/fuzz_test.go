package store

import (
	"testing"

	"github.com/referrald/referrald/model"
)

// FuzzDecodeRecords feeds arbitrary bytes to every record decoder: a
// corrupt record must be an error, never a panic.
func FuzzDecodeRecords(f *testing.F) {
	key := make([]byte, 16)
	f.Add(encodeReferral(&model.Referral{ID: "ref_01jdq3f7k8m2n4p6r8t0v2x4z6", FirstName: "J", Email: "j@x.example"}))
	f.Add(encodeProgram(&model.Program{Name: "P", Commission: &model.CommissionRule{Type: model.CommissionPercent, BasisPoints: 10,
		Caps: map[string]int64{"USD": 5, "JPY": 500}}}))
	f.Add(encodeCommission(&model.Commission{Kind: model.CommissionEarning, Basis: model.CommissionBasis{Rule: &model.CommissionRule{Type: "flat"}}}))
	f.Add([]byte{formatV1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add(encodeRecordEvent(recordReferral, model.Time{}, [16]byte{1}, encodeReferral(&model.Referral{FirstName: "J"})))
	f.Add(encodeUser(&model.User{Email: "a@x.example", Role: model.RoleOwner, DisabledAt: &model.Time{}}, "$argon2id$v=19$..."))
	f.Add(encodeAudit(&model.AuditEntry{Actor: model.Actor{Kind: model.ActorUser, ID: "usr_x"}, Action: "program.created"}))
	f.Add(encodePrintRun(&model.PrintRun{ProgramID: "prg_01jdq3f7k8m2n4p6r8t0v2x4z6", Layout: "flyer4", Paper: "a4", Count: 2,
		AmbassadorIDs: []string{"amb_01jdq3f7k8m2n4p6r8t0v2x4z6"}, PlacementIDs: []string{"plc_01jdq3f7k8m2n4p6r8t0v2x4z6", "plc_01jdq3f7k8m2n4p6r8t0v2x4z7"}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, v []byte) {
		decodeReferral(key, v)
		decodeProgram(key, v)
		decodeAmbassador(key, v)
		decodeImpression(key, v)
		decodeEarning(key, v)
		decodeCommission(key, v)
		decodePlacement(key, v)
		decodePayout(key, v)
		decodeAPIKey(key, v)
		decodeCounts(v)
		decodeEvent(key, v)
		decodeUser(key, v)
		decodeSession(v)
		decodeAudit(key, v)
		decodePrintRun(key, v)
	})
}
