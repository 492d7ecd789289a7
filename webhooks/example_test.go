package webhooks_test

import (
	"fmt"
	"time"

	"github.com/referrald/referrald/webhooks"
)

// The webhook-signature header of the specification's test vector.
func ExampleSign() {
	sig := webhooks.Sign([]string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "msg_p5jXN8AQM9LWM0D4loKWxJek",
		time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	fmt.Println(sig)
	// Output: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
}
