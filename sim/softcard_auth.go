package sim

import (
	"bytes"
	"errors"

	"github.com/imslab/imslab/internal/aka"
	"github.com/imslab/imslab/internal/cardfile"
)

// verify implements VERIFY PIN for PIN1 (key reference 01), TS 102 221
// §11.1.9: 63Cx with the tries left on a wrong PIN, 6983 once blocked.
func (c *SoftCard) verify(cmd Command) ([]byte, SW) {
	if cmd.P1 != 0x00 {
		return nil, SWIncorrectP1P2
	}
	if cmd.P2 != 0x01 {
		return nil, SWRefDataNotFound
	}
	st := &c.p.State
	if len(cmd.Data) == 0 { // ask the status
		switch {
		case c.p.PIN == "" || c.verified:
			return nil, SWOK
		case st.PINTriesLeft == 0:
			return nil, SWPINBlocked
		}
		return nil, SW(0x63C0 | st.PINTriesLeft)
	}
	if len(cmd.Data) != 8 {
		return nil, SWWrongLength
	}
	if c.p.PIN == "" {
		return nil, SWOK // PIN disabled: nothing to verify
	}
	if st.PINTriesLeft == 0 {
		return nil, SWPINBlocked
	}
	want := pinBlock(c.p.PIN)
	if bytes.Equal(cmd.Data, want) {
		c.verified = true
		if st.PINTriesLeft != cardfile.PINTries {
			st.PINTriesLeft = cardfile.PINTries
			_ = c.saveLocked()
		}
		return nil, SWOK
	}
	st.PINTriesLeft--
	_ = c.saveLocked()
	c.log.Info("card: wrong PIN", "tries_left", st.PINTriesLeft)
	if st.PINTriesLeft == 0 {
		return nil, SWPINBlocked
	}
	return nil, SW(0x63C0 | st.PINTriesLeft)
}

// pinBlock pads PIN digits with 'FF' to 8 bytes, TS 102 221 §9.5.1.
func pinBlock(pin string) []byte {
	b := bytes.Repeat([]byte{0xFF}, 8)
	copy(b, pin)
	return b
}

// authenticate implements AUTHENTICATE in the USIM 3G context
// (TS 31.102 §7.1.2.1) and the ISIM IMS AKA context (TS 31.103 §7.1.2.1):
// data = L RAND ‖ L AUTN; answer DB L RES L CK L IK on success, DC L AUTS on a
// synchronisation failure, SW 9862 when the MAC is wrong.
func (c *SoftCard) authenticate(cmd Command) ([]byte, SW) {
	if cmd.P1 != 0x00 {
		return nil, SWIncorrectP1P2
	}
	if c.adf == nil {
		return nil, SWNoEFSelected
	}
	if cmd.P2 != 0x81 {
		return nil, SWIncorrectP1P2 // GSM and GBA contexts are not offered
	}
	if c.p.PIN != "" && !c.verified {
		return nil, SWSecurityNotSatisfy
	}
	d := cmd.Data
	if len(d) != 34 || d[0] != 16 || d[17] != 16 {
		return nil, SWWrongData
	}
	rand, autn := d[1:17], d[18:34]
	app := "USIM"
	if c.adf == c.isim {
		app = "ISIM"
	}
	ch, err := c.mil.VerifyAUTN(rand, autn)
	if errors.Is(err, aka.ErrMACFailure) {
		c.log.Info("card: AUTHENTICATE refused: MAC in AUTN is wrong (not our network, or a different K/OPc)", "app", app)
		return nil, SWAuthMACFailure
	}
	if err != nil {
		return nil, SWTechProblem
	}
	if err := c.seq.check(ch.SQN); err != nil {
		ms := c.seq.sqnMS()
		auts, aerr := c.mil.AUTS(rand, ms)
		if aerr != nil {
			return nil, SWTechProblem
		}
		c.log.Info("card: AUTHENTICATE sync failure, sending AUTS", "app", app,
			"sqn", aka.FormatSQN(ch.SQN), "sqn_ms", aka.FormatSQN(ms), "why", err.Error())
		return c.respond(append([]byte{0xDC, byte(len(auts))}, auts...))
	}
	c.seq.accept(ch.SQN)
	_ = c.saveLocked()
	c.log.Info("card: AUTHENTICATE ok", "app", app, "sqn", aka.FormatSQN(ch.SQN))
	out := []byte{0xDB}
	for _, v := range [][]byte{ch.RES, ch.CK, ch.IK} {
		out = append(out, byte(len(v)))
		out = append(out, v...)
	}
	return c.respond(out)
}
