package ident

import "testing"

// TS 23.003 §13.2-13.4B: derived identities, 2-digit MNC padded to 3.
func TestDerivedIdentities_TS23003(t *testing.T) {
	if got := HomeDomain("234", "15"); got != "ims.mnc015.mcc234.3gppnetwork.org" {
		t.Errorf("HomeDomain = %s", got)
	}
	if got := IMPI("234150999999999", "234", "15"); got != "234150999999999@ims.mnc015.mcc234.3gppnetwork.org" {
		t.Errorf("IMPI = %s", got)
	}
	if got := TemporaryIMPU("310150123456789", "310", "150"); got != "sip:310150123456789@ims.mnc150.mcc310.3gppnetwork.org" {
		t.Errorf("TemporaryIMPU = %s", got)
	}
}
