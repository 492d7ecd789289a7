package model

import (
	"strconv"
	"strings"
)

// currencies are the ISO 4217 codes ValidCurrency accepts: every code in
// use (List One, as of 2026), and those withdrawn since 2015, so that an
// earning recorded in one before its changeover can still be refunded and
// its commission paid out (BGN became EUR in 2026, ANG became XCG in 2025,
// HRK became EUR in 2023). XXX, "no currency", is left out: money needs
// one; so is XTS, reserved for testing, which no real purchase is in.
// Kept here rather than taken from a library, as the one at hand
// (golang.org/x/text/currency) holds CLDR's list of 2017, without VES,
// MRU, SLE, ZWG or XCG.
var currencies = func() map[string]bool {
	const inUse = "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BHD BIF BMD BND BOB BOV BRL BSD BTN " +
		"BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN " +
		"ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD " +
		"JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT " +
		"MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG " +
		"QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT " +
		"TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAD XAF XAG XAU XBA " +
		"XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW ZWG"
	const withdrawnSince2015 = "ANG BGN BYR CUC HRK LTL MRO SLL STD VEF ZWL"
	m := map[string]bool{}
	for _, c := range strings.Fields(inUse + " " + withdrawnSince2015) {
		m[c] = true
	}
	return m
}()

// ValidCurrency reports whether s is an ISO 4217 code in upper case.
func ValidCurrency(s string) bool { return currencies[s] }

// currencyDigits are the ISO 4217 minor units of the currencies whose
// minor unit is not a hundredth; the precious metals and funds without a
// minor unit count in whole units.
var currencyDigits = func() map[string]int {
	m := map[string]int{}
	for digits, codes := range map[int]string{
		0: "BIF BYR CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF " +
			"XAG XAU XBA XBB XBC XBD XDR XPD XPT XSU XUA",
		3: "BHD IQD JOD KWD LYD OMR TND",
		4: "CLF UYW",
	} {
		for _, c := range strings.Fields(codes) {
			m[c] = digits
		}
	}
	return m
}()

// CurrencyDigits is how many decimal places the currency's minor unit
// has: amounts are counted in it, so 1999 USD is 19.99 and 1999 JPY is
// 1,999. Most currencies have 2.
func CurrencyDigits(code string) int {
	if d, ok := currencyDigits[code]; ok {
		return d
	}
	return 2
}

// FormatMoney shows amount, in cur's minor unit, as people read it:
// "USD 1,234.56", "JPY 1,999".
func FormatMoney(amount int64, cur string) string {
	return cur + " " + FormatAmount(amount, cur, true)
}

// FormatAmount shows amount, in cur's minor unit, in the major unit with
// the currency's own number of decimals: "1,234.56" grouped in threes,
// or "1234.56" as a form's value.
func FormatAmount(amount int64, cur string, grouped bool) string {
	digits := CurrencyDigits(cur)
	neg := amount < 0
	if neg {
		amount = -amount
	}
	scale := int64(1)
	for range digits {
		scale *= 10
	}
	whole := strconv.FormatInt(amount/scale, 10)
	if grouped {
		for i := len(whole) - 3; i > 0; i -= 3 {
			whole = whole[:i] + "," + whole[i:]
		}
	}
	s := whole
	if digits > 0 {
		frac := strconv.FormatInt(amount%scale, 10)
		s += "." + strings.Repeat("0", digits-len(frac)) + frac
	}
	if neg {
		s = "-" + s
	}
	return s
}
