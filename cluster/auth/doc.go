// Package auth decides who is calling the master and what they may do.
//
// Authentication is on by default, for every route but /health and /ping
// (Mesos ships --authenticate_http_readonly, --authenticate_http_readwrite,
// --authenticate_frameworks and --authenticate_agents off; nodectl ships
// them on). A principal comes from one of:
//
//   - a client certificate of the cluster CA (admin and master
//     certificates are superusers; agent certificates may only speak the
//     agent protocol);
//   - HTTP Basic with a principal and secret from Mesos' --credentials file
//     or from the users kept in etcd (secrets stored as argon2id hashes);
//   - a web-UI session cookie, traded for a principal and secret at
//     POST /auth/login (HttpOnly, Secure, SameSite=Strict, revocable).
//
// Authorization is Mesos' local authorizer (--acls: ordered rules, first
// match decides, "permissive" otherwise; see
// https://mesos.apache.org/documentation/latest/authorization/) plus
// nodectl's app permissions on app id prefixes (Marathon group paths).
//
// Every route is registered on a Router with exactly one Perm; the Router
// authenticates, applies --firewall_rules, --rate_limits and the CSRF rule
// for cookie sessions, and checks the route's Perm before the handler
// runs. Handlers refine object-level checks (an app id, a framework's
// role) with Allowed.
//
// It imports cluster/pki (certificate identities) and the etcd client; it
// must not import any other nodectl package.
package auth
