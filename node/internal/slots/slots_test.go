package slots

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnvRoundTrip(t *testing.T) {
	env := Env{"slot": "B", "next": "A", "tries": "1", "note": "a\\b\nc", "empty": ""}
	b, err := env.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != EnvSize || !bytes.HasPrefix(b, []byte("# GRUB Environment Block\n")) || b[EnvSize-1] != '#' {
		t.Fatalf("block: %d bytes %q", len(b), b[:60])
	}
	if !bytes.Contains(b, []byte("next=A\nnote=a\\\\b\\nc\nslot=B\ntries=1\n#")) {
		t.Errorf("block body %q", b[:80])
	}
	got, err := ParseEnv(b)
	if err != nil {
		t.Fatal(err)
	}
	delete(env, "empty")
	if len(got) != len(env) {
		t.Fatalf("parsed %v, want %v", got, env)
	}
	for k, v := range env {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if _, err := (Env{"x": strings.Repeat("y", EnvSize)}).Encode(); err == nil {
		t.Error("an oversized block encoded")
	}
	if _, err := ParseEnv([]byte("slot=A\n")); err == nil {
		t.Error("a block without the header parsed")
	}
}

// TestEnvGrubEditenv reads a block grub-editenv wrote, when it is installed.
func TestEnvGrubEditenv(t *testing.T) {
	p := filepath.Join(t.TempDir(), "grubenv")
	if err := WriteEnvFile(p, Env{"slot": "A"}); err != nil {
		t.Fatal(err)
	}
	ed := "/usr/bin/grub-editenv"
	if _, err := os.Stat(ed); err != nil {
		t.Skip("grub-editenv not installed")
	}
	if out, err := runCmd(ed, p, "set", "next=B", "tries=2"); err != nil {
		t.Fatalf("grub-editenv: %v %s", err, out)
	}
	env, err := ReadEnvFile(p)
	if err != nil || env["slot"] != "A" || env["next"] != "B" || env["tries"] != "2" {
		t.Fatalf("after grub-editenv: %v %v", env, err)
	}
	if st, _ := os.Stat(p); st.Size() != EnvSize {
		t.Errorf("size %d", st.Size())
	}
	out, err := runCmd(ed, p, "list")
	if err != nil || !strings.Contains(out, "slot=A") || !strings.Contains(out, "next=B") {
		t.Errorf("grub-editenv list: %v %s", err, out)
	}
}

func newBoot(t *testing.T) Boot {
	t.Helper()
	b := Boot{Dir: t.TempDir()}
	if err := b.Init(A); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteSlot(A, strings.NewReader("kernel-1"), strings.NewReader("initrd-1"), "v1"); err != nil {
		t.Fatal(err)
	}
	return b
}

// grubBoot does what grub.cfg does at a boot (Decide) to the block on
// disk and returns the slot it boots.
func grubBoot(t *testing.T, b Boot) string {
	t.Helper()
	env, err := ReadEnvFile(filepath.Join(b.Dir, EnvPath))
	if err != nil {
		t.Fatal(err)
	}
	slot, saved := Decide(env)
	if err := WriteEnvFile(filepath.Join(b.Dir, EnvPath), saved); err != nil {
		t.Fatal(err)
	}
	return slot
}

func TestUpgradeBecomesDefaultWhenHealthy(t *testing.T) {
	b := newBoot(t)
	if err := b.Try(B, 1); err == nil {
		t.Fatal("trial of an empty slot accepted")
	}
	if err := b.WriteSlot(B, strings.NewReader("kernel-2"), strings.NewReader("initrd-2"), "v2"); err != nil {
		t.Fatal(err)
	}
	if err := b.Try(B, 1); err != nil {
		t.Fatal(err)
	}
	if got := grubBoot(t, b); got != B {
		t.Fatalf("trial boot: %s, want B", got)
	}
	if ok, err := b.MarkGood(A); ok || err != nil {
		t.Errorf("MarkGood of the slot not on trial: %v %v", ok, err)
	}
	if ok, err := b.MarkGood(B); !ok || err != nil {
		t.Fatalf("MarkGood(B): %v %v", ok, err)
	}
	st, _ := b.State()
	if st.Default != B || st.Next != "" || st.Versions[A] != "v1" || st.Versions[B] != "v2" {
		t.Errorf("state after a healthy upgrade: %+v", st)
	}
	for range 3 {
		if got := grubBoot(t, b); got != B {
			t.Fatalf("boot after a healthy upgrade: %s, want B", got)
		}
	}
	// Rollback on purpose: A is the default again.
	to, err := b.Rollback(B)
	if err != nil || to != A {
		t.Fatalf("Rollback: %s %v", to, err)
	}
	if got := grubBoot(t, b); got != A {
		t.Fatalf("boot after rollback: %s", got)
	}
}

func TestUpgradeFallsBackWhenNeverHealthy(t *testing.T) {
	for _, tries := range []int{1, 2, 3} {
		b := newBoot(t)
		if err := b.WriteSlot(B, strings.NewReader("k"), strings.NewReader("i"), "broken"); err != nil {
			t.Fatal(err)
		}
		if err := b.Try(B, tries); err != nil {
			t.Fatal(err)
		}
		for i := range tries {
			if got := grubBoot(t, b); got != B {
				t.Fatalf("tries=%d: trial boot %d went to %s", tries, i+1, got)
			}
			// The broken system never marks itself good.
		}
		if got := grubBoot(t, b); got != A {
			t.Fatalf("tries=%d: after the tries, boot went to %s, want A", tries, got)
		}
		failed, err := b.TakeFailed()
		if err != nil || failed != B {
			t.Fatalf("TakeFailed: %q %v", failed, err)
		}
		if failed, _ := b.TakeFailed(); failed != "" {
			t.Errorf("failure reported twice")
		}
		if got := grubBoot(t, b); got != A {
			t.Errorf("later boot: %s", got)
		}
	}
	if err := newBoot(t).Try(B, MaxTries+1); err == nil {
		t.Error("too many tries accepted")
	}
}

func TestGiveUp(t *testing.T) {
	b := newBoot(t)
	b.WriteSlot(B, strings.NewReader("k"), strings.NewReader("i"), "v2")
	b.Try(B, 2)
	if got := grubBoot(t, b); got != B {
		t.Fatal(got)
	}
	if err := b.GiveUp(B); err != nil {
		t.Fatal(err)
	}
	if got := grubBoot(t, b); got != A {
		t.Fatalf("after GiveUp: %s", got)
	}
	if f, _ := b.TakeFailed(); f != B {
		t.Errorf("failed = %q", f)
	}
}

func TestGrubConfig(t *testing.T) {
	cfg, err := GrubConfig("nodectl.role=all")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"load_env slot next tries failed", "save_env next tries failed", "linux /$boot/vmlinuz", "nodectl.slot=$boot $extra", "set extra='nodectl.role=all'", "set fallback=1"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("grub.cfg lacks %q", want)
		}
	}
	if _, err := GrubConfig("x='y'"); err == nil {
		t.Error("a quote in the kept parameters accepted")
	}
}

func TestCheckUpgradable(t *testing.T) {
	b := newBoot(t)
	st, _ := b.State()
	if err := st.CheckUpgradable(A); err != nil {
		t.Errorf("running the default: %v", err)
	}
	b.WriteSlot(B, strings.NewReader("k"), strings.NewReader("i"), "v2")
	b.Try(B, 1)
	grubBoot(t, b)
	st, _ = b.State()
	if err := st.CheckUpgradable(B); err == nil || !strings.Contains(err.Error(), "on trial") {
		t.Errorf("upgrade from a slot on trial: %v, want refused", err)
	}
	b.MarkGood(B)
	b.Rollback(B) // default A again, B still running until the reboot
	st, _ = b.State()
	if err := st.CheckUpgradable(B); err == nil || !strings.Contains(err.Error(), "not the default") {
		t.Errorf("upgrade from a slot that is not the default: %v, want refused", err)
	}
}
