package sim

// SW is an ISO 7816-4 / ETSI TS 102 221 §10.2 status word.
type SW uint16

// Status words used by the card and understood by the reader.
const (
	SWOK                 SW = 0x9000
	SWAuthMACFailure     SW = 0x9862 // TS 102 221 §10.2.1.3 / TS 31.102 §7.1.2: authentication error, incorrect MAC
	SWWrongLength        SW = 0x6700
	SWSecurityNotSatisfy SW = 0x6982
	SWPINBlocked         SW = 0x6983
	SWIncompatibleFile   SW = 0x6981
	SWNoEFSelected       SW = 0x6986
	SWWrongData          SW = 0x6A80
	SWFuncNotSupported   SW = 0x6A81
	SWFileNotFound       SW = 0x6A82
	SWRecordNotFound     SW = 0x6A83
	SWIncorrectP1P2      SW = 0x6A86
	SWRefDataNotFound    SW = 0x6A88
	SWWrongP1P2          SW = 0x6B00
	SWINSNotSupported    SW = 0x6D00
	SWCLANotSupported    SW = 0x6E00
	SWChannelNotSupport  SW = 0x6881
	SWTechProblem        SW = 0x6F00
)

// String names the status word as TS 102 221 §10.2 does.
func (sw SW) String() string {
	switch {
	case sw == SWOK:
		return "normal ending"
	case sw>>8 == 0x61:
		return "response bytes available (GET RESPONSE)"
	case sw>>8 == 0x6C:
		return "wrong Le, retry with the length given"
	case sw>>8 == 0x91:
		return "normal ending, proactive command pending"
	case sw&0xFFF0 == 0x63C0:
		return "verification failed, retries left: " + string(rune('0'+int(sw&0xF)))
	}
	switch sw {
	case SWAuthMACFailure:
		return "authentication error, incorrect MAC"
	case SWWrongLength:
		return "wrong length"
	case SWSecurityNotSatisfy:
		return "security status not satisfied (PIN needed)"
	case SWPINBlocked:
		return "authentication method blocked (PIN blocked)"
	case SWIncompatibleFile:
		return "command incompatible with file structure"
	case SWNoEFSelected:
		return "command not allowed, no EF selected"
	case SWWrongData:
		return "incorrect parameters in the data field"
	case SWFuncNotSupported:
		return "function not supported"
	case SWFileNotFound:
		return "file or application not found"
	case SWRecordNotFound:
		return "record not found"
	case SWIncorrectP1P2:
		return "incorrect P1 or P2"
	case SWRefDataNotFound:
		return "referenced data not found"
	case SWWrongP1P2:
		return "wrong parameters P1-P2 (offset beyond the file)"
	case SWINSNotSupported:
		return "instruction not supported"
	case SWCLANotSupported:
		return "class not supported"
	case SWChannelNotSupport:
		return "logical channel not supported"
	case SWTechProblem:
		return "technical problem, no precise diagnosis"
	}
	return "unknown status"
}
