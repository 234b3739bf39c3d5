package nassec

import (
	"fmt"

	"github.com/imslab/imslab/internal/aka"
)

// Algorithm type distinguishers, TS 33.401 Annex A.7 table A.7-1.
const (
	distNASEnc = 0x01 // NAS-enc-alg
	distNASInt = 0x02 // NAS-int-alg
)

// NASKeys derives K_NASenc and K_NASint (128 bits each) from K_ASME for the
// selected algorithms, TS 33.401 Annex A.7: KDF(K_ASME, S) with FC = 0x15,
// P0 = the algorithm type distinguisher, P1 = the algorithm identity; the
// key is the 128 least significant bits of the 256-bit output.
func NASKeys(kasme []byte, eea EEA, eia EIA) (kNASenc, kNASint []byte, err error) {
	if len(kasme) != 32 {
		return nil, nil, fmt.Errorf("nassec: K_ASME must be 32 bytes, got %d", len(kasme))
	}
	if eea > 7 || eia > 7 {
		return nil, nil, fmt.Errorf("nassec: algorithm identities %d/%d do not fit 3 bits", eea, eia)
	}
	enc := aka.KDF(kasme, aka.FCAlgKey, []byte{distNASEnc}, []byte{byte(eea)})
	integ := aka.KDF(kasme, aka.FCAlgKey, []byte{distNASInt}, []byte{byte(eia)})
	return enc[16:], integ[16:], nil
}
