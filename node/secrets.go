package node

import (
	"context"
	"fmt"
	"log/slog"

	clientv3 "go.etcd.io/etcd/client/v3"

	"nodectl/cluster"
	"nodectl/cluster/auth"
	"nodectl/cluster/pki"
	"nodectl/cluster/secrets"
)

// secretStore builds the cluster secret store of a master: values sealed
// under a key derived from the cluster secret (every master has the same
// one), its /v1/secrets API, and the resolver the master uses to put
// values into launches. Every value read or written is registered with
// the log redactor.
func secretStore(cli *clientv3.Client, ca *pki.Authority, guard *auth.Guard, redact func(...string), log *slog.Logger) (*secrets.API, cluster.SecretResolver, error) {
	aead, err := ca.AEAD(secrets.Info)
	if err != nil {
		return nil, nil, fmt.Errorf("secret store key: %w", err)
	}
	if redact == nil {
		redact = func(...string) {}
	}
	store, err := secrets.NewStore(cli, aead)
	if err != nil {
		return nil, nil, err
	}
	resolve := func(ctx context.Context, path string) ([]byte, error) {
		v, err := store.Get(ctx, path)
		if err == nil {
			redact(string(v))
		}
		return v, err
	}
	return secrets.NewAPI(store, guard, log, redact), resolve, nil
}
