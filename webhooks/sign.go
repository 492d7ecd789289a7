package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/referrald/referrald/model"
)

// Sign returns the webhook-signature header of a message as the Standard
// Webhooks specification (v1) has it: for each secret, "v1," and the
// base64 of the HMAC-SHA256, under the secret's key, of
// "{id}.{unix seconds of ts}.{body}"; space-separated, in the order of
// secrets. A secret that is not a valid "whsec_" key is left out.
func Sign(secrets []string, id string, ts time.Time, body []byte) string {
	content := make([]byte, 0, len(id)+len(body)+24)
	content = append(content, id...)
	content = append(content, '.')
	content = strconv.AppendInt(content, ts.Unix(), 10)
	content = append(content, '.')
	content = append(content, body...)
	var sigs []string
	for _, s := range secrets {
		key, ok := model.WebhookSecretKey(s)
		if !ok {
			continue
		}
		mac := hmac.New(sha256.New, key)
		mac.Write(content)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(sigs, " ")
}
