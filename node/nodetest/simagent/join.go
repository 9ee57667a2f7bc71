package simagent

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"syscall"

	"nodectl/cluster/pki"
)

// JoinTLS joins the cluster of the master at url (https://host:port) as
// an agent with an agent token, as `nodectl up --role=agent --join URL
// --token TOKEN` does, keeping the key and certificate in dir, and returns
// the client TLS agents present to masters (the agent certificate; a
// master's wanted). Masters admit the agent protocol from any agent
// certificate of the cluster (node/master_role.go, authorizeAgent), so
// every agent of one simulator process presents the one it got.
func JoinTLS(ctx context.Context, url, token, dir, hostname string) (*tls.Config, error) {
	res, err := pki.Join(ctx, pki.JoinConfig{
		URL: url, Token: token, Paths: pki.Paths{Dir: dir}, Role: pki.RoleAgent,
		Hostname: hostname, IPs: []net.IP{net.ParseIP("127.0.0.1")},
	})
	if err != nil {
		return nil, fmt.Errorf("join %s as an agent: %w", url, err)
	}
	return pki.ClientTLS(res.Identity, pki.RoleMaster), nil
}

// RaiseFileLimit raises the process's RLIMIT_NOFILE to at least want
// open files: the soft limit up to the hard one, and the hard one too
// when the process may (root). Processes started afterwards inherit it.
// It returns the soft limit in force.
func RaiseFileLimit(want uint64) (uint64, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	if r.Cur >= want {
		return r.Cur, nil
	}
	if r.Max < want {
		up := syscall.Rlimit{Cur: want, Max: want}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &up); err == nil {
			return want, nil
		}
	}
	r.Cur = r.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, fmt.Errorf("setrlimit: %w", err)
	}
	return r.Cur, nil
}
