#!/usr/bin/env bash
# The workflow walk-through of README.md as a script: every step runs as
# written, and the script stops at the first answer that is not the one
# expected.
#
#   TOKEN=rfd_... bash docs/walkthrough.sh         # against make run
#   BASE=http://127.0.0.1:9000 TOKEN=... bash docs/walkthrough.sh
#
# It needs bash, curl and an admin token, and writes posters.pdf and
# referrals.csv in the current directory. Each run makes records of its own
# (emails and idempotency keys carry RUN), so it can run again on one store.
# walkthrough_test.go runs it against a fresh server, and checks that
# README.md shows exactly the lines below the marker.
set -euo pipefail
shopt -s inherit_errexit

# ---- README.md shows everything below this line ----
BASE=${BASE:-http://127.0.0.1:8080}
: "${TOKEN:?set TOKEN to an admin token, e.g. the one make run printed}"
RUN=$(date +%s) # makes this run's emails and idempotency keys its own

# call STATUS METHOD PATH [curl options]: one API request with the token;
# prints the answer, and fails unless its HTTP status is STATUS.
call() {
  local want=$1 method=$2 path=$3 out code
  shift 3
  out=$(curl -sS -X "$method" -H "Authorization: Bearer $TOKEN" \
    -H "Content-Type: application/json" -w '%{http_code}' "$@" "$BASE$path")
  code=${out: -3} out=${out%???}
  [[ -z $out ]] || printf '%s\n' "${out%$'\n'}"
  [[ $code == "$want" ]] || { echo "$method $path: HTTP $code, not $want" >&2; return 1; }
}

# json_get KEY: the first "KEY": "string" in the JSON on stdin (enough
# for the IDs below, and no jq needed).
json_get() {
  local json re="\"$1\"[[:space:]]*:[[:space:]]*\"([^\"]*)\""
  json=$(cat)
  [[ $json =~ $re ]] || { echo "no \"$1\" in: $json" >&2; return 1; }
  printf '%s\n' "${BASH_REMATCH[1]}"
}

# An admin creates a program (it leaves out hold_days, so its commissions
# wait 30 days before they are paid), an ambassador and a poster's placement.
PRG=$(call 201 POST /v1/programs -d '{"name": "Spring 2027 campus launch",
  "landing_url": "https://example.com/join",
  "commission": {"type": "flat", "amount": 500, "currency": "USD"}}' | json_get id)
AMB=$(call 201 POST /v1/ambassadors -d "{\"first_name\": \"Ada\", \"last_name\": \"Lovelace\",
  \"email\": \"ada.$RUN@uni.example\", \"school\": \"Uni\"}" | json_get id)
CODE=$(call 201 POST /v1/placements -d "{\"program_id\": \"$PRG\",
  \"ambassador_id\": \"$AMB\", \"label\": \"Library, 2nd floor\",
  \"location\": {\"address\": \"1 College Road\", \"latitude\": 51.52, \"longitude\": -0.13}}" |
  json_get code)
echo "program $PRG, ambassador $AMB, poster code $CODE"

# Print four more posters: a PDF, one poster a page, each a new placement.
call 201 POST "/v1/ambassadors/$AMB/posters" -o posters.pdf \
  -d "{\"program_id\": \"$PRG\", \"count\": 4, \"label\": \"Cafeteria\"}"

# A phone scans the poster: /s/<code> (public) records an impression and
# answers 302 to the landing page with imp=<impression id>. curl's own
# user agent would count as a bot, so this sends a phone's.
SCAN=$(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' \
  -A 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X)' "$BASE/s/$CODE")
echo "$SCAN"
[[ $SCAN =~ ^302\ .*[?\&]imp=(imp_[0-9a-z]+) ]] || { echo "not a 302 with imp=" >&2; false; }
IMP=${BASH_REMATCH[1]}

# The landing page signs the person up: a referral (201), pending, whose
# program, ambassador and placement come from the impression.
SIGNUP="{\"impression_id\": \"$IMP\", \"first_name\": \"John\", \"last_name\": \"Doe\",
  \"email\": \"john.doe.$RUN@example.com\", \"metadata\": {\"source\": \"poster\"}}"
REF=$(call 201 POST /v1/referrals -H "Idempotency-Key: signup-$RUN" -d "$SIGNUP" | json_get id)

# Its retry with the same key gets the same referral back, marked
# Idempotent-Replayed: true, and nothing new is created.
REPLAY=$(call 201 POST /v1/referrals -D - -H "Idempotency-Key: signup-$RUN" -d "$SIGNUP")
[[ $REPLAY == *"Idempotent-Replayed: true"* && $(json_get id <<<"$REPLAY") == "$REF" ]] ||
  { echo "not a replay of $REF" >&2; false; }

# Lists filter and page: newest first, limit 1 to 100, then cursor=<next_cursor>.
call 200 GET "/v1/referrals?program_id=$PRG&status=pending&limit=10"

# A purchase of 19.99 USD is an earning: the referral becomes converted and
# the program's flat rule gives the ambassador a commission of 5.00.
ERN=$(call 201 POST /v1/earnings -d "{\"referral_id\": \"$REF\", \"amount\": 1999,
  \"currency\": \"USD\", \"external_id\": \"order-1001\"}" | json_get id)
COM=$(call 200 GET "/v1/commissions?earning_id=$ERN" | json_get id)
call 200 GET "/v1/ambassadors/$AMB/balance"

# A partial refund adds a clawback commission; history is never rewritten.
call 200 POST "/v1/earnings/$ERN/refund" -d '{"amount": 999}'

# A manager approves the commission before its hold ends (its clawback
# with it), and a payout marks what is approved paid: 5.00 - 2.50.
call 200 POST "/v1/commissions/$COM/approve"
call 201 POST /v1/payouts -d "{\"ambassador_id\": \"$AMB\", \"currency\": \"USD\",
  \"external_reference\": \"bank-transfer-42\"}"

# A referral can be rejected (fraud, say); a rejected one cannot earn: 409.
REF2=$(call 201 POST /v1/referrals -d "{\"impression_id\": \"$IMP\",
  \"first_name\": \"Jane\", \"last_name\": \"Roe\", \"email\": \"jane@example.com\"}" | json_get id)
call 200 PATCH "/v1/referrals/$REF2" -d '{"status": "rejected"}'
call 409 POST /v1/earnings -d "{\"referral_id\": \"$REF2\", \"amount\": 500, \"currency\": \"USD\"}"

# How the program does (scans, signups, purchases, rates, money), who
# leads, and every referral as a spreadsheet.
call 200 GET "/v1/stats/funnel?program_id=$PRG"
call 200 GET "/v1/stats/leaderboard?program_id=$PRG"
call 200 GET "/v1/exports/referrals.csv?program_id=$PRG" -o referrals.csv

# Mistakes are answered 400 as a whole, every field problem listed:
# email invalid_email, emial unknown_field, first_name required,
# impression_id not_found, last_name required.
call 400 POST /v1/referrals -d '{"impression_id": "imp_123abc", "email": "nope", "emial": "x"}'
