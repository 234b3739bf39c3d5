package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/imslab/imslab/internal/aka"
)

func TestNextSQN(t *testing.T) {
	type seqInd struct {
		seq uint64
		ind int
	}
	tests := []struct {
		name  string
		start uint64
		n     int
		want  []seqInd
	}{
		{"from zero", 0, 3, []seqInd{{1, 1}, {2, 2}, {3, 3}}},
		{"IND wraps to 0", aka.MakeSQN(100, 30), 3, []seqInd{{101, 31}, {102, 0}, {103, 1}}},
		{"after a resync to SEQ_MS", aka.MakeSQN(5000, 7), 1, []seqInd{{5001, 8}}},
		{"a full IND cycle", aka.MakeSQN(1, 0), 33, func() []seqInd {
			var w []seqInd
			for i := range 33 {
				w = append(w, seqInd{uint64(2 + i), (1 + i) % 32})
			}
			return w
		}()},
	}
	ctx := context.Background()
	s := newTestStore(t)
	sub := testSubscriber(t, "001010000000001")
	if err := s.Add(ctx, sub); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.SetSQN(ctx, sub.IMSI, tc.start); err != nil {
				t.Fatal(err)
			}
			got, err := s.NextSQN(ctx, sub.IMSI, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d SQNs, want %d", len(got), len(tc.want))
			}
			for i, sqn := range got {
				if aka.SEQ(sqn) != tc.want[i].seq || aka.IND(sqn) != tc.want[i].ind {
					t.Errorf("SQN %d = %s, want SEQ %d IND %d", i, aka.FormatSQN(sqn), tc.want[i].seq, tc.want[i].ind)
				}
			}
			stored, err := s.Get(ctx, sub.IMSI)
			if err != nil || stored.SQN != got[len(got)-1] {
				t.Fatalf("stored SQN = %v (%v), want the last one handed out %s", stored, err, aka.FormatSQN(got[len(got)-1]))
			}
		})
	}
	for _, n := range []int{0, -1, MaxBatch + 1} {
		if _, err := s.NextSQN(ctx, sub.IMSI, n); err == nil {
			t.Errorf("NextSQN(%d) succeeded", n)
		}
	}
	if err := s.SetSQN(ctx, sub.IMSI, aka.MaxSQN); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NextSQN(ctx, sub.IMSI, 1); err == nil {
		t.Error("NextSQN past the last SEQ succeeded")
	}
	if err := s.SetSQN(ctx, sub.IMSI, aka.MaxSQN+1); err == nil {
		t.Error("SetSQN over 48 bits succeeded")
	}
}

func TestResyncSQN(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	const imsi = "001010000000001"
	if err := s.Add(ctx, testSubscriber(t, imsi)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		stored, sqnMS uint64
		adopted       bool
		wantNextSEQ   uint64
		wantNextIND   int
	}{
		{"card ahead: adopt SQN_MS", aka.MakeSQN(5, 5), aka.MakeSQN(40, 9), true, 41, 10},
		{"card behind: keep", aka.MakeSQN(50, 2), aka.MakeSQN(40, 9), false, 51, 3},
		{"same SEQ: keep", aka.MakeSQN(40, 2), aka.MakeSQN(40, 9), false, 41, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.SetSQN(ctx, imsi, tc.stored); err != nil {
				t.Fatal(err)
			}
			prev, adopted, err := s.ResyncSQN(ctx, imsi, tc.sqnMS)
			if err != nil || prev != tc.stored || adopted != tc.adopted {
				t.Fatalf("ResyncSQN = %s, %v, %v", aka.FormatSQN(prev), adopted, err)
			}
			next, err := s.NextSQN(ctx, imsi, 1)
			if err != nil || aka.SEQ(next[0]) != tc.wantNextSEQ || aka.IND(next[0]) != tc.wantNextIND {
				t.Fatalf("next SQN = %v %v, want SEQ %d IND %d", next, err, tc.wantNextSEQ, tc.wantNextIND)
			}
		})
	}
	if _, _, err := s.ResyncSQN(ctx, "001019999999999", 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("ResyncSQN of an unknown IMSI = %v", err)
	}
}

// Two Store handles on one file stand for the HSS and a second process:
// concurrent allocations never hand out the same SQN, and none is skipped.
func TestNextSQNConcurrent(t *testing.T) {
	const workers, each = 8, 200
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hss.db")
	stores := []*Store{openTest(t, path), openTest(t, path)}
	imsi := "001010000000001"
	if err := stores[0].Add(ctx, testSubscriber(t, imsi)); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[uint64]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			for range each {
				sqns, err := stores[w%2].NextSQN(ctx, imsi, 1)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if seen[sqns[0]] {
					errs <- fmt.Errorf("SQN %s handed out twice", aka.FormatSQN(sqns[0]))
				}
				seen[sqns[0]] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seen) != workers*each {
		t.Fatalf("%d distinct SQNs, want %d", len(seen), workers*each)
	}
	for seq := uint64(1); seq <= workers*each; seq++ {
		if !seen[aka.MakeSQN(seq, int(seq%aka.IndSize))] {
			t.Fatalf("SEQ %d was never handed out", seq)
		}
	}
	t.Logf("%d SQNs over two handles in %v", len(seen), time.Since(start))
}

const childDBEnv = "IMSLAB_STORE_SQN_CHILD_DB"

// TestHelperProcess is the child of TestNextSQNKill: it allocates SQNs one
// at a time and prints each once NextSQN has returned, until it is killed.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(childDBEnv)
	if path == "" {
		return // not the child: nothing to do (the parent test re-runs this binary with the variable set)
	}
	s, err := Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for {
		sqns, err := s.NextSQN(context.Background(), "001010000000001", 1)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stdout, sqns[0]) // os.Stdout is not buffered
	}
}

// TestNextSQNKill kills (SIGKILL) a process that allocates SQNs, and checks
// that the stored SQN is at least every SQN the process had handed out: none
// is lost, so none can be handed out again.
func TestNextSQNKill(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hss.db")
	s := openTest(t, path)
	if err := s.Add(ctx, testSubscriber(t, "001010000000001")); err != nil {
		t.Fatal(err)
	}
	var stored uint64
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(), childDBEnv+"="+path)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		printed := make(chan []uint64)
		go func() {
			var got []uint64
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if v, err := strconv.ParseUint(sc.Text(), 10, 64); err == nil {
					got = append(got, v)
				}
			}
			printed <- got
		}()
		time.Sleep(300 * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil { // SIGKILL
			t.Fatal(err)
		}
		got := <-printed
		cmd.Wait()
		if len(got) == 0 {
			t.Fatalf("round %d: the child printed no SQN in 300 ms", round)
		}
		for i, sqn := range got {
			if sqn <= stored || i > 0 && sqn <= got[i-1] {
				t.Fatalf("round %d: SQN %s handed out again or out of order (stored before: %s)", round, aka.FormatSQN(sqn), aka.FormatSQN(stored))
			}
		}
		// A fresh handle reads what is on disk after the kill.
		s2, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		sub, err := s2.Get(ctx, "001010000000001")
		s2.Close()
		if err != nil {
			t.Fatal(err)
		}
		last := got[len(got)-1]
		if sub.SQN < last {
			t.Fatalf("round %d: stored SQN %s is below the last one handed out, %s: it could be handed out again", round, aka.FormatSQN(sub.SQN), aka.FormatSQN(last))
		}
		t.Logf("round %d: the child got %d SQNs before SIGKILL, last printed %s, stored %s: gap %d SEQ",
			round, len(got), aka.FormatSQN(last), aka.FormatSQN(sub.SQN), aka.SEQ(sub.SQN)-aka.SEQ(last))
		stored = sub.SQN
	}
}
