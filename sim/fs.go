package sim

import (
	"bytes"
	"fmt"
)

// File identifiers, TS 102 221 §13, TS 31.102 §4.2, TS 31.103 §4.2.
const (
	FidMF        = 0x3F00
	FidDIR       = 0x2F00
	FidICCID     = 0x2FE2
	FidADF       = 0x7FFF // the current application's ADF, TS 102 221 §8.4.1
	FidIMSI      = 0x6F07 // in ADF.USIM
	FidAD        = 0x6FAD
	FidMSISDN    = 0x6F40
	FidUST       = 0x6F38
	FidIMPI      = 0x6F02 // in ADF.ISIM
	FidDomain    = 0x6F03
	FidIMPU      = 0x6F04
	FidIST       = 0x6F07 // in ADF.ISIM (same FID as EF_IMSI in ADF.USIM)
	FidPCSCF     = 0x6F09
	FidARR       = 0x6F06
	FidARRMF     = 0x2F06
	appCodeUSIM  = 0x1002 // TS 101 220 Annex E: 3GPP USIM
	appCodeISIM  = 0x1004 // 3GPP ISIM
	rid3GPP      = "\xA0\x00\x00\x00\x87"
	aidUSIMTail  = "\xFF\xFF\xFF\xFF\x89\x07\x09\x00\x00"
	maxResponse  = 256
	efIMPURecLen = 64
	efPCSCFRecLn = 64
	efDIRRecLen  = 32
)

// AIDs of the applications on the card: RID of 3GPP (A000000087), the
// application code (1002 USIM, 1004 ISIM, TS 101 220 Annex E) and a PIX tail.
var (
	AIDUSIM = []byte(rid3GPP + "\x10\x02" + aidUSIMTail)
	AIDISIM = []byte(rid3GPP + "\x10\x04" + aidUSIMTail)
)

func fileName(fid uint16) string {
	switch fid {
	case FidMF:
		return "3F00 (MF)"
	case FidDIR:
		return "2F00 (EF_DIR)"
	case FidICCID:
		return "2FE2 (EF_ICCID)"
	case FidADF:
		return "7FFF (current ADF)"
	case FidIMSI:
		return "6F07 (EF_IMSI in USIM, EF_IST in ISIM)"
	case FidAD:
		return "6FAD (EF_AD)"
	case FidMSISDN:
		return "6F40 (EF_MSISDN)"
	case FidUST:
		return "6F38 (EF_UST)"
	case FidIMPI:
		return "6F02 (EF_IMPI)"
	case FidDomain:
		return "6F03 (EF_DOMAIN)"
	case FidIMPU:
		return "6F04 (EF_IMPU)"
	case FidPCSCF:
		return "6F09 (EF_PCSCF)"
	}
	return fmt.Sprintf("%04X", fid)
}

type fileKind int

const (
	kindDF fileKind = iota // MF, DF or ADF
	kindTransparent
	kindLinearFixed
)

// file is a node of the card's file system, TS 102 221 §8.
type file struct {
	fid      uint16
	name     string
	kind     fileKind
	aid      []byte // ADF only
	sfi      byte   // 0: none
	data     []byte // transparent EF
	records  [][]byte
	recLen   int
	pin      bool // reading needs PIN1 verified
	parent   *file
	children []*file
}

func (f *file) add(c *file) *file {
	c.parent = f
	f.children = append(f.children, c)
	return c
}

func (f *file) child(fid uint16) *file {
	for _, c := range f.children {
		if c.fid == fid {
			return c
		}
	}
	return nil
}

func (f *file) childBySFI(sfi byte) *file {
	for _, c := range f.children {
		if c.kind != kindDF && c.sfi == sfi {
			return c
		}
	}
	return nil
}

func (f *file) size() int {
	if f.kind == kindLinearFixed {
		return f.recLen * len(f.records)
	}
	return len(f.data)
}

// tlvAppend appends tag, short length and value.
func tlvAppend(b []byte, tag byte, v []byte) []byte {
	b = append(b, tag, byte(len(v)))
	return append(b, v...)
}

// fcp builds the FCP template (tag 62) that SELECT returns, TS 102 221
// §11.1.1.3: file descriptor, file identifier, DF name, proprietary
// information, life cycle status, security attributes, sizes, SFI, and for a
// DF the PIN status template.
func (f *file) fcp(pinEnabled bool) []byte {
	var b []byte
	switch f.kind {
	case kindDF:
		b = tlvAppend(b, 0x82, []byte{0x78, 0x21}) // DF, shareable (§11.1.1.4.3)
	case kindTransparent:
		b = tlvAppend(b, 0x82, []byte{0x41, 0x21}) // working EF, transparent
	case kindLinearFixed:
		b = tlvAppend(b, 0x82, []byte{0x42, 0x21, byte(f.recLen >> 8), byte(f.recLen), byte(len(f.records))})
	}
	b = tlvAppend(b, 0x83, []byte{byte(f.fid >> 8), byte(f.fid)})
	if f.aid != nil {
		b = tlvAppend(b, 0x84, f.aid)
	}
	if f.kind == kindDF {
		b = tlvAppend(b, 0xA5, []byte{0x80, 0x01, 0x71}) // UICC characteristics (§11.1.1.4.6.1)
	}
	b = tlvAppend(b, 0x8A, []byte{0x05}) // operational state, activated (§11.1.1.4.9)
	arr := uint16(FidARR)
	if f.parent == nil || f.parent.fid == FidMF && f.aid == nil {
		arr = FidARRMF
	}
	b = tlvAppend(b, 0x8B, []byte{byte(arr >> 8), byte(arr), 0x01}) // reference to expanded format (§11.1.1.4.7.3)
	if f.kind == kindDF {
		b = tlvAppend(b, 0x81, []byte{0x00, 0x00})
		ps := byte(0x00)
		if pinEnabled {
			ps = 0x80 // PS_DO: PIN1 enabled (§9.5.2)
		}
		b = tlvAppend(b, 0xC6, []byte{0x90, 0x01, ps, 0x83, 0x01, 0x01})
	} else {
		n := f.size()
		b = tlvAppend(b, 0x80, []byte{byte(n >> 8), byte(n)})
		b = tlvAppend(b, 0x88, []byte{f.sfi << 3})
	}
	return tlvAppend(nil, 0x62, b)
}

// FCP is what the reader learns from a SELECT response.
type FCP struct {
	FID        uint16
	IsDF       bool
	Structure  string // "transparent", "linear fixed", "DF"
	RecordLen  int
	NumRecords int
	Size       int
	AID        []byte
	SFI        byte
	PIN1On     bool
}

// ParseFCP decodes an FCP template, TS 102 221 §11.1.1.3.
func ParseFCP(b []byte) (*FCP, error) {
	outer, err := parseTLVs(b)
	if err != nil || len(outer) == 0 || outer[0].tag != 0x62 {
		return nil, fmt.Errorf("not an FCP template (tag 62): % X", b)
	}
	tlvs, err := parseTLVs(outer[0].val)
	if err != nil {
		return nil, fmt.Errorf("FCP: %w", err)
	}
	f := &FCP{}
	seen := false
	for _, t := range tlvs {
		switch t.tag {
		case 0x82:
			if len(t.val) < 2 {
				return nil, fmt.Errorf("FCP: file descriptor of %d bytes", len(t.val))
			}
			seen = true
			switch {
			case t.val[0]&0x38 == 0x38:
				f.IsDF, f.Structure = true, "DF"
			case t.val[0]&0x07 == 0x01:
				f.Structure = "transparent"
			case t.val[0]&0x07 == 0x02 || t.val[0]&0x07 == 0x06:
				f.Structure = "linear fixed"
				if t.val[0]&0x07 == 0x06 {
					f.Structure = "cyclic"
				}
				if len(t.val) < 5 {
					return nil, fmt.Errorf("FCP: record file descriptor of %d bytes", len(t.val))
				}
				f.RecordLen = int(t.val[2])<<8 | int(t.val[3])
				f.NumRecords = int(t.val[4])
			default:
				f.Structure = fmt.Sprintf("descriptor %02X", t.val[0])
			}
		case 0x83:
			if len(t.val) == 2 {
				f.FID = uint16(t.val[0])<<8 | uint16(t.val[1])
			}
		case 0x84:
			f.AID = bytes.Clone(t.val)
		case 0x80:
			for _, c := range t.val {
				f.Size = f.Size<<8 | int(c)
			}
		case 0x88:
			if len(t.val) == 1 {
				f.SFI = t.val[0] >> 3
			}
		case 0xC6:
			inner, err := parseTLVs(t.val)
			if err == nil && len(inner) > 0 && inner[0].tag == 0x90 && len(inner[0].val) > 0 {
				f.PIN1On = inner[0].val[0]&0x80 != 0
			}
		}
	}
	if !seen {
		return nil, fmt.Errorf("FCP: no file descriptor (82)")
	}
	return f, nil
}
