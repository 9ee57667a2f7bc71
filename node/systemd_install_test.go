package node

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The rendered unit: ExecStart runs up with the role, work dir and the
// other flags, quoted for systemd; the process-only kill, cgroup
// delegation and limits are there; no sandboxing that breaks containers.
func TestRenderUnit(t *testing.T) {
	t.Parallel()
	u := renderUnit(unitSpec{Bin: "/usr/local/bin/nodectl", Role: "agent", WorkDir: "/var/lib/nodectl",
		Args:    []string{"--join", "https://10.0.0.1:5050", "--resources", "cpus:2;mem:1024", "--attributes", `rack:a b%$"`},
		EnvFile: "/etc/nodectl/nodectl.env"})
	for _, want := range []string{
		"\nExecStart=/usr/local/bin/nodectl up --role=agent --work-dir=/var/lib/nodectl --join https://10.0.0.1:5050 --resources \"cpus:2;mem:1024\" --attributes \"rack:a b%%$$\\\"\"\n",
		"\nEnvironmentFile=-/etc/nodectl/nodectl.env\n",
		"\nKillMode=process\n", "\nDelegate=yes\n", "\nRestart=always\n", "\nLimitNOFILE=1048576\n",
		"\nTasksMax=infinity\n", "\nWantedBy=multi-user.target\n", "\n[Service]\n", "\n[Install]\n",
	} {
		if !strings.Contains(u, want) {
			t.Errorf("unit lacks %q:\n%s", want, u)
		}
	}
	for _, bad := range []string{"ProtectSystem", "PrivateTmp", "NoNewPrivileges", "ProtectHome", "PrivateDevices", "KillMode=control-group"} {
		if strings.Contains(u, bad) {
			t.Errorf("unit has %s, which breaks containers or recovery:\n%s", bad, u)
		}
	}
	for in, want := range map[string]string{"plain-1.2:3=x,y@z+": "plain-1.2:3=x,y@z+", "": `""`, "a b": `"a b"`, `a\b`: `"a\\b"`, "50%": `"50%%"`, "$HOME": `"$$HOME"`} {
		if got := systemdQuote(in); got != want {
			t.Errorf("systemdQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// Secret flags, in every spelling, leave the command line for the
// environment file.
func TestSplitSecretArgs(t *testing.T) {
	t.Parallel()
	plain, env := splitSecretArgs([]string{"--join", "https://m:5050", "--token", "T1", "--port=1", "-token=T2", "--resources", "cpus:1"})
	if want := []string{"--join", "https://m:5050", "--port=1", "--resources", "cpus:1"}; !slices.Equal(plain, want) {
		t.Errorf("plain %q, want %q", plain, want)
	}
	if len(env) != 1 || env["NODECTL_TOKEN"] != "T2" {
		t.Errorf("env %v, want NODECTL_TOKEN=T2 (the last one given)", env)
	}
}

// install --systemd --no-start writes the binary, the unit and, for a
// join token, a 0600 environment file; the token is nowhere in the unit.
// Without systemd (and without --no-start) nothing is written.
func TestSystemdInstallFiles(t *testing.T) {
	d := t.TempDir()
	bin, unit, envf := filepath.Join(d, "bin"), filepath.Join(d, "units"), filepath.Join(d, "etc", "nodectl.env")
	const token = "NDCTL1-0123abcd-id.supersecret"
	args := []string{"install", "--systemd", "--role", "agent", "--work-dir", filepath.Join(d, "work"),
		"--bin-dir", bin, "--unit-dir", unit, "--env-file", envf}
	upArgs := []string{"--", "--join", "https://127.0.0.1:5050", "--token", token, "--resources", "cpus:1;mem:256"}

	old := systemdRunDir
	systemdRunDir = filepath.Join(d, "no-systemd")
	defer func() { systemdRunDir = old }()
	out, errOut, code := cliRun(t, append(args, upArgs...)...)
	if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "not booted with systemd") {
		t.Fatalf("without systemd: exit %d, stdout %q, stderr %q; want 2 and one line", code, out, errOut)
	}
	if _, err := os.Stat(unit); !os.IsNotExist(err) {
		t.Fatalf("files written without systemd: %v", err)
	}

	out, errOut, code = cliRun(t, append(append(args, "--no-start"), upArgs...)...)
	if code != 0 {
		t.Fatalf("--no-start: exit %d: %s%s", code, out, errOut)
	}
	u, err := os.ReadFile(filepath.Join(unit, "nodectl.service"))
	if err != nil {
		t.Fatal(err)
	}
	wantExec := "ExecStart=" + filepath.Join(bin, "nodectl") + " up --role=agent --work-dir=" + filepath.Join(d, "work") +
		` --join https://127.0.0.1:5050 --resources "cpus:1;mem:256"` + "\n"
	if !strings.Contains(string(u), wantExec) || !strings.Contains(string(u), "EnvironmentFile=-"+envf+"\n") {
		t.Errorf("unit lacks %q or its EnvironmentFile:\n%s", wantExec, u)
	}
	if strings.Contains(string(u), "supersecret") || strings.Contains(string(u), "--token") {
		t.Errorf("the token is in the unit:\n%s", u)
	}
	st, err := os.Stat(envf)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := os.ReadFile(envf)
	if st.Mode().Perm() != 0o600 || string(e) != `NODECTL_TOKEN="`+token+`"`+"\n" {
		t.Errorf("env file mode %v, content %q", st.Mode().Perm(), e)
	}
	self, _ := os.Executable()
	a, _ := os.ReadFile(self)
	b, err := os.ReadFile(filepath.Join(bin, "nodectl"))
	if err != nil || !slices.Equal(a, b) {
		t.Errorf("installed binary differs from this one (%v)", err)
	}
	if st, err := os.Stat(filepath.Join(bin, "nodectl")); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("installed binary: %v, %v", st, err)
	}

	// Again without a token: the environment file keeps what it had.
	if _, errOut, code := cliRun(t, append(append(args, "--no-start"), upArgs[:3]...)...); code != 0 {
		t.Fatalf("second install: exit %d: %s", code, errOut)
	}
	if e2, _ := os.ReadFile(envf); !slices.Equal(e, e2) {
		t.Errorf("env file changed to %q", e2)
	}
}

// install --systemd starts the service through systemctl: daemon-reload,
// enable, restart (a fake systemctl records its calls).
func TestSystemdInstallStarts(t *testing.T) {
	d := t.TempDir()
	old := systemdRunDir
	systemdRunDir = d // exists: "booted with systemd"
	defer func() { systemdRunDir = old }()
	log := filepath.Join(d, "calls")
	fake := filepath.Join(d, "path", "systemctl")
	if err := os.MkdirAll(filepath.Dir(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho \"$*\" >> "+log+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", filepath.Dir(fake)+":"+os.Getenv("PATH"))
	out, errOut, code := cliRun(t, "install", "--systemd", "--work-dir", filepath.Join(d, "work"),
		"--bin-dir", filepath.Join(d, "bin"), "--unit-dir", filepath.Join(d, "units"), "--env-file", filepath.Join(d, "env"))
	if code != 0 || !strings.Contains(out, "started") {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	calls, _ := os.ReadFile(log)
	if string(calls) != "daemon-reload\nenable nodectl.service\nrestart nodectl.service\n" {
		t.Errorf("systemctl calls %q", calls)
	}
	if _, err := os.Stat(filepath.Join(d, "env")); !os.IsNotExist(err) {
		t.Errorf("an env file without a secret: %v", err)
	}

	// systemctl missing: exit 2, one line.
	t.Setenv("PATH", filepath.Join(d, "empty"))
	out, errOut, code = cliRun(t, "install", "--systemd", "--unit-dir", filepath.Join(d, "units2"), "--bin-dir", filepath.Join(d, "bin2"))
	if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "systemctl not found") {
		t.Errorf("without systemctl: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// Bad combinations and flags: exit 2, one line, nothing written.
func TestSystemdInstallUsageErrorsExit2(t *testing.T) {
	d := t.TempDir()
	dirs := []string{"--bin-dir", filepath.Join(d, "bin"), "--unit-dir", filepath.Join(d, "units"), "--env-file", filepath.Join(d, "env"), "--no-start"}
	for _, args := range [][]string{
		{"install", "--systemd", "--disk", "/dev/vda"},
		{"install", "--systemd", "--image", "x.tar"},
		{"install", "--systemd", "--keep-args", "x"},
		{"install", "--systemd", "--role", "boss"},
		{"install", "--role", "agent"},    // needs --systemd
		{"install", "--no-start"},         // needs --systemd
		{"install", "--unit-dir", "/tmp"}, // needs --systemd
		append(append([]string{"install", "--systemd"}, dirs...), "--", "--bogus"),
		append(append([]string{"install", "--systemd"}, dirs...), "--", "--port", "x"),
		append(append([]string{"install", "--systemd"}, dirs...), "--", "--role=agent"),
		append(append([]string{"install", "--systemd"}, dirs...), "--", "--work-dir", "/x"),
		append([]string{"install", "--systemd", "--role", "agent"}, dirs...), // an agent needs --join
		append(append([]string{"install", "--systemd"}, dirs...), "--", "--attributes", "a\nb"),
		append(append([]string{"install", "--systemd", "--role", "agent"}, dirs...), "--", "--join", "https://m:5050", "--token", `a"b`),
	} {
		out, errOut, code := cliRun(t, args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "nodectl: ") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2, nothing, one line", args, code, out, errOut)
		}
	}
	if ents, _ := os.ReadDir(d); len(ents) != 0 {
		t.Errorf("refused installs wrote %v", ents)
	}
}

// systemd's own parser accepts the unit (when systemd-analyze is
// installed): no unknown setting, no bad quoting.
func TestSystemdUnitVerifies(t *testing.T) {
	t.Parallel()
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("no systemd-analyze")
	}
	d := t.TempDir()
	if _, errOut, code := cliRun(t, "install", "--systemd", "--no-start", "--work-dir", filepath.Join(d, "work"), "--bin-dir", filepath.Join(d, "bin"),
		"--unit-dir", filepath.Join(d, "units"), "--env-file", filepath.Join(d, "env"),
		"--", "--attributes", `rack:a b%$"x`, "--resources", "cpus:1;mem:256"); code != 0 {
		t.Fatalf("install: exit %d: %s", code, errOut)
	}
	out, err := exec.Command(sa, "verify", "--man=no", filepath.Join(d, "units", "nodectl.service")).CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
