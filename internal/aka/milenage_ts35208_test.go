// MILENAGE design conformance test data, 3GPP TS 35.208 §4.3 (Test Set 1 ..
// Test Set 20, twenty sets), run against this package (which wraps
// github.com/wmnsk/milenage) and against refMilenage, a small independent
// implementation written here from the description in TS 35.206 §4.1.
//
// Sources. The text of TS 35.208 itself (3GPP / ETSI TS 135 208) could not be
// read from here: only the cover pages of stored copies were reachable. The
// table below was therefore taken from three public copies that cite the spec
// section by section and were compared field by field (all 20 x 13 values
// identical):
//   - hostapd tests/test-milenage.c ("3GPP TS 35.208 v6.0.0 - 4.3.N Test Set N",
//     N = 1..20, with OP and OPc);
//   - a Go MILENAGE test (conformanceSets, "TS 35.208 §4.3", with OP);
//   - a Go AKA test ("3GPP TS 35.208 4.3", sets 1..20, OPc only).
// Independent checks: TS 35.207 (implementors' test data) sets 1, 3, 4, 5, 6
// carry the same inputs and outputs as TS 35.208 sets 1, 3, 4, 5, 6 (several
// copies, e.g. free5gc's milenage tests); the 19 GSM-MILENAGE sets of TS 55.205
// (as copied in hostapd) are TS 35.208 sets 1, 3..20 (same K, RAND, OPc, and
// SRES2 = first 32 bits of f2); and every value below is reproduced by both
// implementations, so no field is a typo.
//
// Disagreements found:
//   - Test Set 2. In every TS 35.208 copy above it repeats Test Set 1 exactly
//     (K 465b5ce8..., OP cdc202d5...). TS 35.207's set 2 is a different,
//     self-consistent set (K 0396eb31..., OP ff53bade..., OPc 53c15671...), and
//     some projects label that one "TS 35.208 test set 2". The duplicate is
//     kept here because all 35.208 copies agree on it and TS 55.205 has 19
//     sets, not 20 (it drops the repeat); the 35.207 set is checked separately
//     in TestTS35208Disagreements. Both satisfy the algorithm, so this point
//     is settled by the sources, not by computation.
//   - A Python eUICC test calls K 0396eb31... with OP dbc59adc... (Test Set
//     3's OP) "TS 35.208 Test Set 2", and gives "Test Set 5" with K
//     4ab1deb0...7d027a7c (every other copy: ...7d026a84). Their outputs DO
//     satisfy MILENAGE — they were computed from those altered inputs — so the
//     algorithm check alone cannot reject them; the inputs disagree with every
//     other copy, and TS 35.208's own sets 2 and 5 are the ones kept here.
//   - A mock-HSS plan gives 35.207 set 2 with OPc 53c15671c60a4b731c55b2a8...
//     and MAC-A 5df5b31e07a08e88, and RES/CK/IK/AK copied from Test Set 4: not
//     MILENAGE outputs at all.
//   - A Rust test gives "test set 2" as K 0396eb31... with RAND c80ab1d1...,
//     SQN 9d0277595bad, AMF df0b (no set's) and Test Set 3's MAC-A 9cabc3e9...:
//     not a MILENAGE output.
// TestTS35208Disagreements checks those claims against refMilenage.

package aka

import (
	"bytes"
	"crypto/aes"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
)

type ts35208Set struct {
	n                          int
	k, rand, sqn, amf, op, opc string
	f1, f1Star, f2, f3, f4     string // MAC-A, MAC-S, RES, CK, IK
	f5, f5Star                 string // AK, AK*
}

// ts35208Sets is TS 35.208 §4.3, Test Set 1 .. Test Set 20.
var ts35208Sets = []ts35208Set{
	{
		n: 1,
		k: "465b5ce8b199b49faa5f0a2ee238a6bc", rand: "23553cbe9637a89d218ae64dae47bf35",
		sqn: "ff9bb4d0b607", amf: "b9b9",
		op: "cdc202d5123e20f62b6d676ac72cb318", opc: "cd63cb71954a9f4e48a5994e37a02baf",
		f1: "4a9ffac354dfafb3", f1Star: "01cfaf9ec4e871e9", f2: "a54211d5e3ba50bf",
		f3: "b40ba9a3c58b2a05bbf0d987b21bf8cb", f4: "f769bcd751044604127672711c6d3441",
		f5: "aa689c648370", f5Star: "451e8beca43b",
	},
	{
		n: 2,
		k: "465b5ce8b199b49faa5f0a2ee238a6bc", rand: "23553cbe9637a89d218ae64dae47bf35",
		sqn: "ff9bb4d0b607", amf: "b9b9",
		op: "cdc202d5123e20f62b6d676ac72cb318", opc: "cd63cb71954a9f4e48a5994e37a02baf",
		f1: "4a9ffac354dfafb3", f1Star: "01cfaf9ec4e871e9", f2: "a54211d5e3ba50bf",
		f3: "b40ba9a3c58b2a05bbf0d987b21bf8cb", f4: "f769bcd751044604127672711c6d3441",
		f5: "aa689c648370", f5Star: "451e8beca43b",
	},
	{
		n: 3,
		k: "fec86ba6eb707ed08905757b1bb44b8f", rand: "9f7c8d021accf4db213ccff0c7f71a6a",
		sqn: "9d0277595ffc", amf: "725c",
		op: "dbc59adcb6f9a0ef735477b7fadf8374", opc: "1006020f0a478bf6b699f15c062e42b3",
		f1: "9cabc3e99baf7281", f1Star: "95814ba2b3044324", f2: "8011c48c0c214ed2",
		f3: "5dbdbb2954e8f3cde665b046179a5098", f4: "59a92d3b476a0443487055cf88b2307b",
		f5: "33484dc2136b", f5Star: "deacdd848cc6",
	},
	{
		n: 4,
		k: "9e5944aea94b81165c82fbf9f32db751", rand: "ce83dbc54ac0274a157c17f80d017bd6",
		sqn: "0b604a81eca8", amf: "9e09",
		op: "223014c5806694c007ca1eeef57f004f", opc: "a64a507ae1a2a98bb88eb4210135dc87",
		f1: "74a58220cba84c49", f1Star: "ac2cc74a96871837", f2: "f365cd683cd92e96",
		f3: "e203edb3971574f5a94b0d61b816345d", f4: "0c4524adeac041c4dd830d20854fc46b",
		f5: "f0b9c08ad02e", f5Star: "6085a86c6f63",
	},
	{
		n: 5,
		k: "4ab1deb05ca6ceb051fc98e77d026a84", rand: "74b0cd6031a1c8339b2b6ce2b8c4a186",
		sqn: "e880a1b580b6", amf: "9f07",
		op: "2d16c5cd1fdf6b22383584e3bef2a8d8", opc: "dcf07cbd51855290b92a07a9891e523e",
		f1: "49e785dd12626ef2", f1Star: "9e85790336bb3fa2", f2: "5860fc1bce351e7e",
		f3: "7657766b373d1c2138f307e3de9242f9", f4: "1c42e960d89b8fa99f2744e0708ccb53",
		f5: "31e11a609118", f5Star: "fe2555e54aa9",
	},
	{
		n: 6,
		k: "6c38a116ac280c454f59332ee35c8c4f", rand: "ee6466bc96202c5a557abbeff8babf63",
		sqn: "414b98222181", amf: "4464",
		op: "1ba00a1a7c6700ac8c3ff3e96ad08725", opc: "3803ef5363b947c6aaa225e58fae3934",
		f1: "078adfb488241a57", f1Star: "80246b8d0186bcf1", f2: "16c8233f05a0ac28",
		f3: "3f8c7587fe8e4b233af676aede30ba3b", f4: "a7466cc1e6b2a1337d49d3b66e95d7b4",
		f5: "45b0f69ab06c", f5Star: "1f53cd2b1113",
	},
	{
		n: 7,
		k: "2d609d4db0ac5bf0d2c0de267014de0d", rand: "194aa756013896b74b4a2a3b0af4539e",
		sqn: "6bf69438c2e4", amf: "5f67",
		op: "460a48385427aa39264aac8efc9e73e8", opc: "c35a0ab0bcbfc9252caff15f24efbde0",
		f1: "bd07d3003b9e5cc3", f1Star: "bcb6c2fcad152250", f2: "8c25a16cd918a1df",
		f3: "4cd0846020f8fa0731dd47cbdc6be411", f4: "88ab80a415f15c73711254a1d388f696",
		f5: "7e6455f34cf3", f5Star: "dc6dd01e8f15",
	},
	{
		n: 8,
		k: "a530a7fe428fad1082c45eddfce13884", rand: "3a4c2b3245c50eb5c71d08639395764d",
		sqn: "f63f5d768784", amf: "b90e",
		op: "511c6c4e83e38c89b1c5d8dde62426fa", opc: "27953e49bc8af6dcc6e730eb80286be3",
		f1: "53761fbd679b0bad", f1Star: "21adfd334a10e7ce", f2: "a63241e1ffc3e5ab",
		f3: "10f05bab75a99a5fbb98a9c287679c3b", f4: "f9ec0865eb32f22369cade40c59c3a44",
		f5: "88196c47986f", f5Star: "c987a3d23115",
	},
	{
		n: 9,
		k: "d9151cf04896e25830bf2e08267b8360", rand: "f761e5e93d603feb730e27556cb8a2ca",
		sqn: "47ee0199820a", amf: "9113",
		op: "75fc2233a44294ee8e6de25c4353d26b", opc: "c4c93effe8a08138c203d4c27ce4e3d9",
		f1: "66cc4be44862af1f", f1Star: "7a4b8d7a8753f246", f2: "4a90b2171ac83a76",
		f3: "71236b7129f9b22ab77ea7a54c96da22", f4: "90527ebaa5588968db41727325a04d9e",
		f5: "82a0f5287a71", f5Star: "527dbf41f35f",
	},
	{
		n: 10,
		k: "a0e2971b6822e8d354a18cc235624ecb", rand: "08eff828b13fdb562722c65c7f30a9b2",
		sqn: "db5c066481e0", amf: "716b",
		op: "323792faca21fb4d5d6f13c145a9d2c1", opc: "82a26f22bba9e9488f949a10d98e9cc4",
		f1: "9485fe24621cb9f6", f1Star: "bce325ce03e2e9b9", f2: "4bc2212d8624910a",
		f3: "08cef6d004ec61471a3c3cda048137fa", f4: "ed0318ca5deb9206272f6e8fa64ba411",
		f5: "a2f858aa9e5d", f5Star: "74e76fbbec38",
	},
	{
		n: 11,
		k: "0da6f7ba86d5eac8a19cf563ac58642d", rand: "679ac4dbacd7d233ff9d6806f4149ce3",
		sqn: "6e2331d692ad", amf: "224a",
		op: "4b9a26fa459e3acbff36f4015de3bdc1", opc: "0db1071f8767562ca43a0a64c41e8d08",
		f1: "2831d7ae9088e492", f1Star: "9b2e16951135d523", f2: "6fc30fee6d123523",
		f3: "69b1cae7c7429d975e245cacb05a517c", f4: "74f24e8c26df58e1b38d7dcd4f1b7fbd",
		f5: "4c539a26e1fa", f5Star: "07861e126928",
	},
	{
		n: 12,
		k: "77b45843c88e58c10d202684515ed430", rand: "4c47eb3076dc55fe5106cb2034b8cd78",
		sqn: "fe1a8731005d", amf: "ad25",
		op: "bf3286c7a51409ce95724d503bfe6e70", opc: "d483afae562409a326b5bb0b20c4d762",
		f1: "08332d7e9f484570", f1Star: "ed41b734489d5207", f2: "aefa357beac2a87a",
		f3: "908c43f0569cb8f74bc971e706c36c5f", f4: "c251df0d888dd9329bcf46655b226e40",
		f5: "30ff25cdadf6", f5Star: "e84ed0d4677e",
	},
	{
		n: 13,
		k: "729b17729270dd87ccdf1bfe29b4e9bb", rand: "311c4c929744d675b720f3b7e9b1cbd0",
		sqn: "c85c4cf65916", amf: "5bb2",
		op: "d04c9c35bd2262fa810d2924d036fd13", opc: "228c2f2f06ac3268a9e616ee16db4ba1",
		f1: "ff794fe2f827ebf8", f1Star: "24fe4dc61e874b52", f2: "98dbbd099b3b408d",
		f3: "44c0f23c5493cfd241e48f197e1d1012", f4: "0c9fb81613884c2535dd0eabf3b440d8",
		f5: "5380d158cfe3", f5Star: "87ac3b559fb6",
	},
	{
		n: 14,
		k: "d32dd23e89dc662354ca12eb79dd32fa", rand: "cf7d0ab1d94306950bf12018fbd46887",
		sqn: "484107e56a43", amf: "b5e6",
		op: "fe75905b9da47d356236d0314e09c32e", opc: "d22a4b4180a5325708a5ff70d9f67ec7",
		f1: "cf19d62b6a809866", f1Star: "5d269537e45e2ce6", f2: "af4a411e1139f2c2",
		f3: "5af86b80edb70df5292cc1121cbad50c", f4: "7f4d6ae7440e18789a8b75ad3f42f03a",
		f5: "217af49272ad", f5Star: "900e101c677e",
	},
	{
		n: 15,
		k: "af7c65e1927221de591187a2c5987a53", rand: "1f0f8578464fd59b64bed2d09436b57a",
		sqn: "3d627b01418d", amf: "84f6",
		op: "0c7acb8d95b7d4a31c5aca6d26345a88", opc: "a4cf5c8155c08a7eff418e5443b98e55",
		f1: "c37cae7805642032", f1Star: "68cd09a452d8db7c", f2: "7bffa5c2f41fbc05",
		f3: "3f8c3f3ccf7625bf77fc94bcfd22fd26", f4: "abcbae8fd46115e9961a55d0da5f2078",
		f5: "837fd7b74419", f5Star: "56e97a6090b1",
	},
	{
		n: 16,
		k: "5bd7ecd3d3127a41d12539bed4e7cf71", rand: "59b75f14251c75031d0bcbac1c2c04c7",
		sqn: "a298ae8929dc", amf: "d056",
		op: "f967f76038b920a9cd25e10c08b49924", opc: "76089d3c0ff3efdc6e36721d4fceb747",
		f1: "c3f25cd94309107e", f1Star: "b0c8ba343665afcc", f2: "7e3f44c7591f6f45",
		f3: "d42b2d615e49a03ac275a5aef97af892", f4: "0b3f8d024fe6bfafaa982b8f82e319c2",
		f5: "5be11495525d", f5Star: "4d6a34a1e4eb",
	},
	{
		n: 17,
		k: "6cd1c6ceb1e01e14f1b82316a90b7f3d", rand: "f69b78f300a0568bce9f0cb93c4be4c9",
		sqn: "b4fce5feb059", amf: "e4bb",
		op: "078bfca9564659ecd8851e84e6c59b48", opc: "a219dc37f1dc7d66738b5843c799f206",
		f1: "69a90869c268cb7b", f1Star: "2e0fdcf9fd1cfa6a", f2: "70f6bdb9ad21525f",
		f3: "6edaf99e5bd9f85d5f36d91c1272fb4b", f4: "d61c853c280dd9c46f297baec386de17",
		f5: "1c408a858b3e", f5Star: "aa4ae52daa30",
	},
	{
		n: 18,
		k: "b73a90cbcf3afb622dba83c58a8415df", rand: "b120f1c1a0102a2f507dd543de68281f",
		sqn: "f1e8a523a36d", amf: "471b",
		op: "b672047e003bb952dca6cb8af0e5b779", opc: "df0c67868fa25f748b7044c6e7c245b8",
		f1: "ebd70341bcd415b0", f1Star: "12359f5d82220c14", f2: "479dd25c20792d63",
		f3: "66195dbed0313274c5ca7766615fa25e", f4: "66bec707eb2afc476d7408a8f2927b36",
		f5: "aefdaa5ddd99", f5Star: "12ec2b87fbb1",
	},
	{
		n: 19,
		k: "5122250214c33e723a5dd523fc145fc0", rand: "81e92b6c0ee0e12ebceba8d92a99dfa5",
		sqn: "16f3b3f70fc2", amf: "c3ab",
		op: "c9e8763286b5b9ffbdf56e1297d0887b", opc: "981d464c7c52eb6e5036234984ad0bcf",
		f1: "2a5c23d15ee351d5", f1Star: "62dae3853f3af9d2", f2: "28d7b0f2a2ec3de5",
		f3: "5349fbe098649f948f5d2e973a81c00f", f4: "9744871ad32bf9bbd1dd5ce54e3e2e5a",
		f5: "ada15aeb7bb8", f5Star: "d461bc15475d",
	},
	{
		n: 20,
		k: "90dca4eda45b53cf0f12d7c9c3bc6a89", rand: "9fddc72092c6ad036b6e464789315b78",
		sqn: "20f813bd4141", amf: "61df",
		op: "3ffcfe5b7b1111589920d3528e84e655", opc: "cb9cccc4b9258e6dca4760379fb82581",
		f1: "09db94eab4f8149e", f1Star: "a29468aa9775b527", f2: "a95100e2760952cd",
		f3: "b5f2da03883b69f96bf52e029ed9ac45", f4: "b4721368bc16ea67875c5598688bb0ef",
		f5: "83cfd54db913", f5Star: "4f2039392ddc",
	},
}

func (s ts35208Set) name() string { return fmt.Sprintf("TS 35.208 test set %d", s.n) }

func tsHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func tsSQN(t testing.TB, s string) uint64 { return getSQN(tsHex(t, s)) }

func tsAMF(t testing.TB, s string) uint16 {
	b := tsHex(t, s)
	return uint16(b[0])<<8 | uint16(b[1])
}

// refMilenage is MILENAGE as TS 35.206 §4.1 describes it, kept apart from the
// package code: OPc = OP ⊕ E_K(OP); TEMP = E_K(RAND ⊕ OPc);
// OUT1 = E_K(TEMP ⊕ rot(IN1 ⊕ OPc, r1) ⊕ c1) ⊕ OPc with IN1 = SQN‖AMF‖SQN‖AMF;
// OUTi = E_K(rot(TEMP ⊕ OPc, ri) ⊕ ci) ⊕ OPc for i = 2..5;
// r1..r5 = 64, 0, 32, 64, 96 bits; c1 = 0, c2..c5 = 1, 2, 4, 8 in the last octet.
type refOut struct{ opc, f1, f1Star, f2, f3, f4, f5, f5Star []byte }

func refMilenage(k, op, rand, sqn, amf []byte) refOut {
	c, err := aes.NewCipher(k)
	if err != nil {
		panic(err)
	}
	enc := func(x []byte) []byte { y := make([]byte, 16); c.Encrypt(y, x); return y }
	xor := func(a, b []byte) []byte {
		y := make([]byte, len(a))
		for i := range a {
			y[i] = a[i] ^ b[i]
		}
		return y
	}
	rot := func(x []byte, r int) []byte { // towards the most significant bit
		y := make([]byte, 16)
		for i := range y {
			y[i] = x[(i+r/8)%16]
		}
		return y
	}
	konst := func(b byte) []byte { y := make([]byte, 16); y[15] = b; return y }

	opc := xor(op, enc(op))
	temp := enc(xor(rand, opc))
	in1 := append(append(append(append([]byte{}, sqn...), amf...), sqn...), amf...)
	out1 := xor(enc(xor(xor(temp, rot(xor(in1, opc), 64)), konst(0))), opc)
	out := func(r int, ci byte) []byte { return xor(enc(xor(rot(xor(temp, opc), r), konst(ci))), opc) }
	out2, out3, out4, out5 := out(0, 1), out(32, 2), out(64, 4), out(96, 8)
	return refOut{
		opc: opc, f1: out1[:8], f1Star: out1[8:],
		f5: out2[:6], f2: out2[8:], f3: out3, f4: out4, f5Star: out5[:6],
	}
}

func tsCheck(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	if !bytes.Equal(got, tsHex(t, want)) {
		t.Errorf("%s = %x, want %s", what, got, want)
	}
}

func TestTS35208TableShape(t *testing.T) {
	if len(ts35208Sets) != 20 {
		t.Fatalf("%d test sets, TS 35.208 §4.3 has 20", len(ts35208Sets))
	}
	for i, s := range ts35208Sets {
		if s.n != i+1 {
			t.Fatalf("entry %d is numbered %d", i, s.n)
		}
		for _, f := range []struct {
			v string
			n int
		}{{s.k, 16}, {s.rand, 16}, {s.sqn, 6}, {s.amf, 2}, {s.op, 16}, {s.opc, 16},
			{s.f1, 8}, {s.f1Star, 8}, {s.f2, 8}, {s.f3, 16}, {s.f4, 16}, {s.f5, 6}, {s.f5Star, 6}} {
			if got := len(tsHex(t, f.v)); got != f.n {
				t.Errorf("%s: %q is %d octets, want %d", s.name(), f.v, got, f.n)
			}
		}
	}
}

// The independent implementation reproduces every value of the table.
func TestTS35208Reference(t *testing.T) {
	for _, s := range ts35208Sets {
		t.Run(s.name(), func(t *testing.T) {
			r := refMilenage(tsHex(t, s.k), tsHex(t, s.op), tsHex(t, s.rand), tsHex(t, s.sqn), tsHex(t, s.amf))
			tsCheck(t, "OPc", r.opc, s.opc)
			tsCheck(t, "f1", r.f1, s.f1)
			tsCheck(t, "f1*", r.f1Star, s.f1Star)
			tsCheck(t, "f2", r.f2, s.f2)
			tsCheck(t, "f3", r.f3, s.f3)
			tsCheck(t, "f4", r.f4, s.f4)
			tsCheck(t, "f5", r.f5, s.f5)
			tsCheck(t, "f5*", r.f5Star, s.f5Star)
		})
	}
}

func TestTS35208Functions(t *testing.T) {
	for _, s := range ts35208Sets {
		t.Run(s.name(), func(t *testing.T) {
			k, rand := tsHex(t, s.k), tsHex(t, s.rand)
			sqn, amf := tsSQN(t, s.sqn), tsAMF(t, s.amf)

			opc, err := OPc(k, tsHex(t, s.op))
			if err != nil {
				t.Fatal(err)
			}
			tsCheck(t, "OPc(K, OP)", opc, s.opc)

			byOP, err := NewWithOP(k, tsHex(t, s.op))
			if err != nil {
				t.Fatal(err)
			}
			tsCheck(t, "NewWithOP().OPc()", byOP.OPc(), s.opc)

			m, err := New(k, tsHex(t, s.opc))
			if err != nil {
				t.Fatal(err)
			}
			for _, alg := range []*Milenage{m, byOP} {
				f1, err := alg.F1(rand, sqn, amf)
				if err != nil {
					t.Fatal(err)
				}
				tsCheck(t, "f1", f1, s.f1)
				f1s, err := alg.F1Star(rand, sqn, amf)
				if err != nil {
					t.Fatal(err)
				}
				tsCheck(t, "f1*", f1s, s.f1Star)
				res, ck, ik, ak, err := alg.F2345(rand)
				if err != nil {
					t.Fatal(err)
				}
				tsCheck(t, "f2", res, s.f2)
				tsCheck(t, "f3", ck, s.f3)
				tsCheck(t, "f4", ik, s.f4)
				tsCheck(t, "f5", ak, s.f5)
				aks, err := alg.F5Star(rand)
				if err != nil {
					t.Fatal(err)
				}
				tsCheck(t, "f5*", aks, s.f5Star)
			}
		})
	}
}

func TestTS35208VectorAndVerifyAUTN(t *testing.T) {
	for _, s := range ts35208Sets {
		t.Run(s.name(), func(t *testing.T) {
			m, err := New(tsHex(t, s.k), tsHex(t, s.opc))
			if err != nil {
				t.Fatal(err)
			}
			rand, sqn, amf := tsHex(t, s.rand), tsSQN(t, s.sqn), tsAMF(t, s.amf)
			v, err := m.Vector(rand, sqn, amf)
			if err != nil {
				t.Fatal(err)
			}
			// AUTN = (SQN ⊕ AK) ‖ AMF ‖ MAC-A, TS 33.102 §6.3.2.
			want := make([]byte, 0, AUTNLen)
			for i, b := range tsHex(t, s.sqn) {
				want = append(want, b^tsHex(t, s.f5)[i])
			}
			want = append(append(want, tsHex(t, s.amf)...), tsHex(t, s.f1)...)
			if !bytes.Equal(v.AUTN, want) {
				t.Errorf("AUTN = %x, want %x", v.AUTN, want)
			}
			tsCheck(t, "XRES", v.XRES, s.f2)
			tsCheck(t, "CK", v.CK, s.f3)
			tsCheck(t, "IK", v.IK, s.f4)
			tsCheck(t, "AK", v.AK, s.f5)
			if !bytes.Equal(v.RAND, rand) || v.SQN != sqn || v.AMF != amf {
				t.Errorf("vector RAND/SQN/AMF = %x/%#x/%#x", v.RAND, v.SQN, v.AMF)
			}

			c, err := m.VerifyAUTN(rand, v.AUTN)
			if err != nil {
				t.Fatalf("VerifyAUTN: %v", err)
			}
			if c.SQN != sqn || c.AMF != amf || !bytes.Equal(c.RES, v.XRES) ||
				!bytes.Equal(c.CK, v.CK) || !bytes.Equal(c.IK, v.IK) {
				t.Errorf("VerifyAUTN = %+v, want SQN %#x AMF %#x and the vector's RES/CK/IK", c, sqn, amf)
			}

			// Any single flipped bit, in MAC-A or in the SQN⊕AK or AMF it
			// covers, must fail the MAC check.
			for bit := 0; bit < 8*AUTNLen; bit++ {
				bad := bytes.Clone(v.AUTN)
				bad[bit/8] ^= 0x80 >> (bit % 8)
				if _, err := m.VerifyAUTN(rand, bad); !errors.Is(err, ErrMACFailure) {
					t.Fatalf("AUTN bit %d flipped: err = %v, want ErrMACFailure", bit, err)
				}
			}
			// The right AUTN under another RAND or key must fail too.
			otherRand := bytes.Clone(rand)
			otherRand[15] ^= 1
			if _, err := m.VerifyAUTN(otherRand, v.AUTN); !errors.Is(err, ErrMACFailure) {
				t.Errorf("other RAND: err = %v, want ErrMACFailure", err)
			}
			otherK := tsHex(t, s.k)
			otherK[0] ^= 1
			mk, _ := New(otherK, tsHex(t, s.opc))
			if _, err := mk.VerifyAUTN(rand, v.AUTN); !errors.Is(err, ErrMACFailure) {
				t.Errorf("other K: err = %v, want ErrMACFailure", err)
			}
		})
	}
}

func TestTS35208AUTS(t *testing.T) {
	for _, s := range ts35208Sets {
		t.Run(s.name(), func(t *testing.T) {
			m, err := New(tsHex(t, s.k), tsHex(t, s.opc))
			if err != nil {
				t.Fatal(err)
			}
			rand, sqn := tsHex(t, s.rand), tsSQN(t, s.sqn)
			auts, err := m.AUTS(rand, sqn)
			if err != nil {
				t.Fatal(err)
			}
			// AUTS = (SQN_MS ⊕ AK*) ‖ MAC-S, MAC-S = f1*(SQN_MS, RAND, AMF = 0000),
			// TS 33.102 §6.3.3. The table's f1* uses the set's AMF, so MAC-S
			// comes from the reference implementation with the dummy AMF.
			r := refMilenage(tsHex(t, s.k), tsHex(t, s.op), rand, tsHex(t, s.sqn), []byte{0, 0})
			want := make([]byte, 0, AUTSLen)
			for i, b := range tsHex(t, s.sqn) {
				want = append(want, b^tsHex(t, s.f5Star)[i])
			}
			want = append(want, r.f1Star...)
			if !bytes.Equal(auts, want) {
				t.Errorf("AUTS = %x, want %x", auts, want)
			}

			got, err := m.VerifyAUTS(rand, auts)
			if err != nil {
				t.Fatalf("VerifyAUTS: %v", err)
			}
			if got != sqn {
				t.Errorf("VerifyAUTS = %#x, want %#x", got, sqn)
			}
			for bit := 0; bit < 8*AUTSLen; bit++ {
				bad := bytes.Clone(auts)
				bad[bit/8] ^= 0x80 >> (bit % 8)
				if _, err := m.VerifyAUTS(rand, bad); !errors.Is(err, ErrMACFailure) {
					t.Fatalf("AUTS bit %d flipped: err = %v, want ErrMACFailure", bit, err)
				}
			}
		})
	}
}

// TestTS35208Disagreements pins down the conflicting copies described at the
// top of this file.
func TestTS35208Disagreements(t *testing.T) {
	// TS 35.207 set 2 is valid MILENAGE data, just not TS 35.208's set 2.
	r := refMilenage(tsHex(t, "0396eb317b6d1c36f19c1c84cd6ffd16"), tsHex(t, "ff53bade17df5d4e793073ce9d7579fa"),
		tsHex(t, "c00d603103dcee52c4478119494202e8"), tsHex(t, "fd8eef40df7d"), tsHex(t, "af17"))
	tsCheck(t, "35.207 set 2 OPc", r.opc, "53c15671c60a4b731c55b4a441c0bde2")
	tsCheck(t, "35.207 set 2 f1", r.f1, "5df5b31807e258b0")
	tsCheck(t, "35.207 set 2 f1*", r.f1Star, "a8c016e51ef4a343")
	tsCheck(t, "35.207 set 2 f2", r.f2, "d3a628ed988620f0")
	tsCheck(t, "35.207 set 2 f3", r.f3, "58c433ff7a7082acd424220f2b67c556")
	tsCheck(t, "35.207 set 2 f4", r.f4, "21a8c1f929702adb3e738488b9f5c5da")
	tsCheck(t, "35.207 set 2 f5", r.f5, "c47783995f72")
	tsCheck(t, "35.207 set 2 f5*", r.f5Star, "30f1197061c1")
	if bytes.Equal(r.f2, tsHex(t, ts35208Sets[1].f2)) {
		t.Error("35.207 set 2 should differ from the 35.208 set 2 kept here")
	}

	// Self-consistent, but from inputs that are not TS 35.208's: the
	// algorithm reproduces them, the table does not contain them.
	for _, w := range []struct {
		who, k, op, rand, sqn, amf string
		opc, f1, f2                string
		set                        int
	}{
		{"python 'set 2' (set 3's OP)", "0396eb317b6d1c36f19c1c84cd6ffd16", "dbc59adcb6f9a0ef735477b7fadf8374",
			"c00d603103dcee52c4478119494202e8", "fd8eef40df7d", "af17",
			"56a5d20b8cd93e9b2fc1e5aacb231c4b", "d3412c9a7680b6d4", "8f354389ae0669ef", 2},
		{"python 'set 5' (K ends 7a7c)", "4ab1deb05ca6ceb051fc98e77d027a7c", "2d16c5cd1fdf6b22383584e3bef2a8d8",
			"74b0cd6031a1c8339b2b6ce2b8c4a186", "e880a1b580b6", "9f07",
			"cd64404dfc450b7e647cc025c97ba2f7", "1653ed115767b0df", "763a94d4c5e896fa", 5},
	} {
		r := refMilenage(tsHex(t, w.k), tsHex(t, w.op), tsHex(t, w.rand), tsHex(t, w.sqn), tsHex(t, w.amf))
		tsCheck(t, w.who+" OPc", r.opc, w.opc)
		tsCheck(t, w.who+" f1", r.f1, w.f1)
		tsCheck(t, w.who+" f2", r.f2, w.f2)
		if s := ts35208Sets[w.set-1]; s.k == w.k && s.op == w.op {
			t.Errorf("%s: inputs equal the table's test set %d", w.who, w.set)
		}
	}

	// Not MILENAGE outputs for the inputs they come with.
	for _, w := range []struct {
		who, k, op, rand, sqn, amf string
		opc, f1, f2                string
	}{
		{"mock-HSS plan 'set 2'", "0396eb317b6d1c36f19c1c84cd6ffd16", "ff53bade17df5d4e793073ce9d7579fa",
			"c00d603103dcee52c4478119494202e8", "fd8eef40df7d", "af17",
			"53c15671c60a4b731c55b2a8fdb5cfb0", "5df5b31e07a08e88", "f365cd683cd92e96"},
		{"rust 'test set 2'", "0396eb317b6d1c36f19c1c84cd6ffd16", "ff53bade17df5d4e793073ce9d7579fa",
			"c80ab1d1902ef4686eb49be29f943bbc", "9d0277595bad", "df0b",
			"", "9cabc3e99baf7281", ""},
	} {
		r := refMilenage(tsHex(t, w.k), tsHex(t, w.op), tsHex(t, w.rand), tsHex(t, w.sqn), tsHex(t, w.amf))
		for _, c := range []struct {
			name    string
			got     []byte
			claimed string
		}{{"OPc", r.opc, w.opc}, {"f1", r.f1, w.f1}, {"f2", r.f2, w.f2}} {
			if c.claimed != "" && bytes.Equal(c.got, tsHex(t, c.claimed)) {
				t.Errorf("%s: claimed %s %s unexpectedly satisfies MILENAGE", w.who, c.name, c.claimed)
			}
		}
	}
}

func TestFormatSQNTwelveDigits(t *testing.T) {
	if got, want := FormatSQN(MakeSQN(1, 1)), "0x000000000021 (SEQ 1, IND 1)"; got != want {
		t.Errorf("FormatSQN = %q, want %q", got, want)
	}
	if got, want := FormatSQN(MaxSQN), "0xffffffffffff (SEQ 8796093022207, IND 31)"; got != want {
		t.Errorf("FormatSQN = %q, want %q", got, want)
	}
}

func FuzzVerifyAUTN(f *testing.F) {
	for _, s := range ts35208Sets {
		m, err := New(tsHex(f, s.k), tsHex(f, s.opc))
		if err != nil {
			f.Fatal(err)
		}
		v, err := m.Vector(tsHex(f, s.rand), tsSQN(f, s.sqn), tsAMF(f, s.amf))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tsHex(f, s.k), tsHex(f, s.opc), v.RAND, v.AUTN)
		f.Add(tsHex(f, s.k), tsHex(f, s.opc), v.RAND, v.AUTN[:AUTNLen-1])
	}
	f.Add([]byte{}, []byte{}, []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, k, opc, rand, autn []byte) {
		m, err := New(k, opc)
		if err != nil {
			return
		}
		c, err := m.VerifyAUTN(rand, autn)
		if err != nil {
			return
		}
		// Accepted: the AUTN must be exactly the one the network would build.
		v, err := m.Vector(rand, c.SQN, c.AMF)
		if err != nil {
			t.Fatalf("Vector for an accepted AUTN: %v", err)
		}
		if !bytes.Equal(v.AUTN, autn) || !bytes.Equal(v.XRES, c.RES) {
			t.Fatalf("accepted AUTN %x, but Vector gives %x", autn, v.AUTN)
		}
	})
}

func FuzzVerifyAUTS(f *testing.F) {
	for _, s := range ts35208Sets {
		m, err := New(tsHex(f, s.k), tsHex(f, s.opc))
		if err != nil {
			f.Fatal(err)
		}
		auts, err := m.AUTS(tsHex(f, s.rand), tsSQN(f, s.sqn))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tsHex(f, s.k), tsHex(f, s.opc), tsHex(f, s.rand), auts)
		f.Add(tsHex(f, s.k), tsHex(f, s.opc), tsHex(f, s.rand), auts[1:])
	}
	f.Add([]byte{}, []byte{}, []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, k, opc, rand, auts []byte) {
		m, err := New(k, opc)
		if err != nil {
			return
		}
		sqn, err := m.VerifyAUTS(rand, auts)
		if err != nil {
			return
		}
		again, err := m.AUTS(rand, sqn)
		if err != nil {
			t.Fatalf("AUTS for an accepted SQN_MS %#x: %v", sqn, err)
		}
		if !bytes.Equal(again, auts) {
			t.Fatalf("accepted AUTS %x, but AUTS(%#x) gives %x", auts, sqn, again)
		}
	})
}
