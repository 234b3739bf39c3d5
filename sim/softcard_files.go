package sim

import (
	"bytes"
	"errors"
)

var errNotFound = errors.New("not found")

// respond queues data for GET RESPONSE (T=0, TS 102 221 §7.3.1.1.4): 61xx.
func (c *SoftCard) respond(data []byte) ([]byte, SW) {
	if len(data) == 0 {
		return nil, SWOK
	}
	c.pending = data
	return nil, SW(0x6100 | len(data)%256)
}

// getResponse returns queued data, TS 102 221 §11.1.12.
func (c *SoftCard) getResponse(cmd Command) ([]byte, SW) {
	if cmd.P1 != 0 || cmd.P2 != 0 {
		return nil, SWIncorrectP1P2
	}
	if len(c.pending) == 0 {
		return nil, SW(0x6F00) // nothing to get: technical problem, as cards say
	}
	if !cmd.HasLe || cmd.Le == 256 {
		out := c.pending
		c.pending = nil
		return out, SWOK
	}
	if cmd.Le > len(c.pending) {
		return nil, SW(0x6C00 | len(c.pending)%256)
	}
	out := c.pending[:cmd.Le]
	c.pending = c.pending[cmd.Le:]
	if len(c.pending) > 0 {
		return out, SW(0x6100 | len(c.pending)%256)
	}
	return out, SWOK
}

// findFID resolves a file identifier from the current DF, TS 102 221 §8.4.1:
// the MF, the current application (7FFF), the current DF, its children, its
// parent and the parent's children.
func (c *SoftCard) findFID(fid uint16) (*file, error) {
	switch fid {
	case FidMF:
		return c.mf, nil
	case FidADF:
		if c.adf == nil {
			return nil, errNotFound
		}
		return c.adf, nil
	}
	if c.cur.fid == fid && c.cur.aid == nil {
		return c.cur, nil
	}
	if f := c.cur.child(fid); f != nil && f.aid == nil {
		return f, nil
	}
	if p := c.cur.parent; p != nil {
		if p.fid == fid {
			return p, nil
		}
		if f := p.child(fid); f != nil && f.kind == kindDF && f.aid == nil {
			return f, nil
		}
	}
	return nil, errNotFound
}

// findPath resolves a path of FIDs from the MF or from the current DF.
func (c *SoftCard) findPath(path []byte, from *file) (*file, error) {
	if len(path) == 0 || len(path)%2 != 0 {
		return nil, errBadAPDU
	}
	f := from
	for i := 0; i < len(path); i += 2 {
		fid := uint16(path[i])<<8 | uint16(path[i+1])
		switch {
		case fid == FidADF && c.adf != nil:
			f = c.adf
		case f.kind == kindDF && f.child(fid) != nil && f.child(fid).aid == nil:
			f = f.child(fid)
		default:
			return nil, errNotFound
		}
	}
	return f, nil
}

// selectFile implements SELECT, TS 102 221 §11.1.1.
func (c *SoftCard) selectFile(cmd Command) ([]byte, SW) {
	var f *file
	var err error
	switch cmd.P1 {
	case 0x00: // by FID
		if len(cmd.Data) == 0 {
			f = c.mf // ISO 7816-4: empty data selects the MF
		} else if len(cmd.Data) != 2 {
			return nil, SWWrongLength
		} else {
			f, err = c.findFID(uint16(cmd.Data[0])<<8 | uint16(cmd.Data[1]))
		}
	case 0x03: // parent DF
		if c.cur.parent == nil {
			return nil, SWFileNotFound
		}
		f = c.cur.parent
	case 0x04: // by DF name (AID), partial AID allowed (§8.4.2)
		f, err = c.findAID(cmd)
	case 0x08: // path from MF, without 3F00
		f, err = c.findPath(cmd.Data, c.mf)
	case 0x09: // path from current DF
		f, err = c.findPath(cmd.Data, c.cur)
	default:
		return nil, SWIncorrectP1P2
	}
	switch {
	case errors.Is(err, errBadAPDU):
		return nil, SWWrongData
	case err != nil || f == nil:
		return nil, SWFileNotFound
	}
	if f.kind == kindDF {
		c.cur, c.curEF = f, nil
		if f.aid != nil {
			c.adf = f
		}
	} else {
		c.cur, c.curEF = f.parent, f
	}
	switch cmd.P2 &^ 0x03 {
	case 0x04: // return FCP
		return c.respond(f.fcp(c.p.PIN != ""))
	case 0x0C, 0x00: // no data (00: FCI, which a UICC answers as no data here)
		return nil, SWOK
	}
	return nil, SWIncorrectP1P2
}

func (c *SoftCard) findAID(cmd Command) (*file, error) {
	if len(cmd.Data) < 5 || len(cmd.Data) > 16 {
		return nil, errBadAPDU
	}
	if cmd.P2&0x03 != 0x00 { // only "first or only occurrence"
		return nil, errNotFound
	}
	for _, f := range c.mf.children {
		if f.aid != nil && bytes.HasPrefix(f.aid, cmd.Data) {
			return f, nil
		}
	}
	return nil, errNotFound
}

// readable checks the access condition: ADF files need PIN1 when enabled.
func (c *SoftCard) readable(f *file) SW {
	if f.pin && c.p.PIN != "" && !c.verified {
		return SWSecurityNotSatisfy
	}
	return SWOK
}

// efBySFI selects the EF an SFI names in the current DF (TS 102 221 §8.3).
func (c *SoftCard) efBySFI(sfi byte) *file {
	if f := c.cur.childBySFI(sfi); f != nil {
		c.curEF = f
		return f
	}
	return nil
}

// readBinary implements READ BINARY, TS 102 221 §11.1.3.
func (c *SoftCard) readBinary(cmd Command) ([]byte, SW) {
	f, off := c.curEF, int(cmd.P1)<<8|int(cmd.P2)
	if cmd.P1&0x80 != 0 {
		if cmd.P1&0x60 != 0 {
			return nil, SWIncorrectP1P2
		}
		if f = c.efBySFI(cmd.P1 & 0x1F); f == nil {
			return nil, SWFileNotFound
		}
		off = int(cmd.P2)
	}
	if len(cmd.Data) > 0 {
		return nil, SWWrongLength
	}
	if f == nil {
		return nil, SWNoEFSelected
	}
	if f.kind != kindTransparent {
		return nil, SWIncompatibleFile
	}
	if sw := c.readable(f); sw != SWOK {
		return nil, sw
	}
	if off >= len(f.data) {
		return nil, SWWrongP1P2
	}
	avail := len(f.data) - off
	n := cmd.Le
	if !cmd.HasLe || n == 256 {
		n = min(avail, maxResponse)
	} else if n > avail {
		return nil, SW(0x6C00 | avail%256)
	}
	return bytes.Clone(f.data[off : off+n]), SWOK
}

// readRecord implements READ RECORD in absolute mode, TS 102 221 §11.1.5.
func (c *SoftCard) readRecord(cmd Command) ([]byte, SW) {
	f := c.curEF
	if sfi := cmd.P2 >> 3; sfi != 0 {
		if sfi == 0x1F {
			return nil, SWIncorrectP1P2
		}
		if f = c.efBySFI(sfi); f == nil {
			return nil, SWFileNotFound
		}
	}
	if cmd.P2&0x07 != 0x04 || cmd.P1 == 0 {
		return nil, SWIncorrectP1P2 // only absolute mode with a record number
	}
	if len(cmd.Data) > 0 {
		return nil, SWWrongLength
	}
	if f == nil {
		return nil, SWNoEFSelected
	}
	if f.kind != kindLinearFixed {
		return nil, SWIncompatibleFile
	}
	if sw := c.readable(f); sw != SWOK {
		return nil, sw
	}
	if int(cmd.P1) > len(f.records) {
		return nil, SWRecordNotFound
	}
	if cmd.HasLe && cmd.Le != 256 && cmd.Le != f.recLen {
		return nil, SW(0x6C00 | f.recLen%256)
	}
	return bytes.Clone(f.records[cmd.P1-1]), SWOK
}

// status implements STATUS, TS 102 221 §11.1.2.
func (c *SoftCard) status(cmd Command) ([]byte, SW) {
	if cmd.P1 > 0x02 {
		return nil, SWIncorrectP1P2
	}
	var data []byte
	switch cmd.P2 {
	case 0x00:
		data = c.cur.fcp(c.p.PIN != "")
	case 0x01:
		if c.adf == nil {
			return nil, SWOK
		}
		data = tlvAppend(nil, 0x84, c.adf.aid)
	case 0x0C:
		return nil, SWOK
	default:
		return nil, SWIncorrectP1P2
	}
	if cmd.HasLe && cmd.Le != 256 && cmd.Le != len(data) {
		return nil, SW(0x6C00 | len(data)%256)
	}
	return data, SWOK
}
