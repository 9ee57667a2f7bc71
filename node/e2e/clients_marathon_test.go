package e2e

import (
	"errors"
	"net/http"
	"testing"
	"time"

	marathon "github.com/gambol99/go-marathon"
)

// marathonClient is go-marathon configured as its README says, with HTTP
// Basic credentials and an HTTP client that trusts the cluster CA.
func marathonClient(t *testing.T, n node, hc *http.Client, user, secret string) marathon.Marathon {
	t.Helper()
	cfg := marathon.NewDefaultConfig()
	cfg.URL = n.url()
	cfg.HTTPBasicAuthUser, cfg.HTTPBasicPassword = user, secret
	cfg.HTTPClient = hc
	c, err := marathon.NewClient(cfg)
	if err != nil {
		t.Fatalf("marathon.NewClient: %v", err)
	}
	return c
}

// go-marathon with HTTP Basic: ping, info, leader, create an app, see its
// task run, list, scale 1→2→1, read its tasks, delete it; a wrong secret
// gets go-marathon's ErrCodeUnauthorized (401).
func TestClientsGoMarathonBasic(t *testing.T) {
	n, hc := clientsStartNode(t)
	c := marathonClient(t, n, hc, clientPrincipal, clientSecret)

	if ok, err := c.Ping(); !ok || err != nil {
		t.Fatalf("Ping: %v %v", ok, err)
	}
	info, err := c.Info()
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.Name == "" || info.Version == "" {
		t.Errorf("Info: name %q version %q", info.Name, info.Version)
	}
	if leader, err := c.Leader(); err != nil || leader == "" {
		t.Errorf("Leader: %q %v", leader, err)
	}

	const id = "/clients/sleep"
	app := new(marathon.Application).Name(id).Command("sleep " + appMark(7001)).CPU(0.05).Memory(16).Count(1)
	created, err := c.CreateApplication(app)
	if err != nil {
		t.Fatalf("CreateApplication: %v", err)
	}
	if created.ID != id || created.Instances == nil || *created.Instances != 1 || created.Cmd == nil || *created.Cmd != "sleep "+appMark(7001) {
		t.Fatalf("CreateApplication answered %+v", created)
	}

	// running waits until the app, with its tasks embedded, has want
	// running tasks and no deployment, as go-marathon's own
	// AllTaskRunning and DeploymentIDs see it.
	running := func(want int) *marathon.Application {
		t.Helper()
		var last *marathon.Application
		var lastErr error
		waitFor(t, 60*time.Second, id+" running", func() bool {
			last, lastErr = c.ApplicationBy(id, &marathon.GetAppOpts{Embed: []string{"apps.tasks"}})
			return lastErr == nil && last.Instances != nil && *last.Instances == want && last.TasksRunning == want &&
				len(last.Tasks) == want && last.AllTaskRunning() && len(last.DeploymentIDs()) == 0
		})
		return last
	}
	a := running(1)
	if a.Tasks[0].AppID != id || a.Tasks[0].State != "TASK_RUNNING" || a.Tasks[0].Host == "" {
		t.Errorf("embedded task: %+v", a.Tasks[0])
	}
	if ok, err := c.ApplicationOK(id); err != nil {
		t.Errorf("ApplicationOK: %v", err)
	} else if !ok {
		t.Logf("ApplicationOK is false: GET /v2/apps/{id} does not embed tasks (issue 17)")
	}

	apps, err := c.Applications(nil)
	if err != nil {
		t.Fatalf("Applications: %v", err)
	}
	if len(apps.Apps) != 1 || apps.Apps[0].ID != id {
		t.Errorf("Applications: %+v", apps.Apps)
	}
	if ids, err := c.ListApplications(nil); err != nil || len(ids) != 1 || ids[0] != id {
		t.Errorf("ListApplications: %v %v", ids, err)
	}

	dep, err := c.ScaleApplicationInstances(id, 2, false)
	if err != nil {
		t.Fatalf("ScaleApplicationInstances 2: %v", err)
	}
	if dep.DeploymentID == "" || dep.Version == "" {
		t.Errorf("ScaleApplicationInstances answered %+v", dep)
	}
	waitFor(t, 60*time.Second, "scale deployment "+dep.DeploymentID+" gone", func() bool {
		has, err := c.HasDeployment(dep.DeploymentID)
		return err == nil && !has
	})
	running(2)
	tasks, err := c.Tasks(id)
	if err != nil || len(tasks.Tasks) != 2 {
		t.Errorf("Tasks: %+v %v", tasks, err)
	}
	if _, err := c.ScaleApplicationInstances(id, 1, false); err != nil {
		t.Fatalf("ScaleApplicationInstances 1: %v", err)
	}
	running(1)

	if _, err := c.DeleteApplication(id, false); err != nil {
		t.Fatalf("DeleteApplication: %v", err)
	}
	waitFor(t, 60*time.Second, id+" gone", func() bool {
		_, err := c.Application(id)
		var apiErr *marathon.APIError
		return errors.As(err, &apiErr) && apiErr.ErrCode == marathon.ErrCodeNotFound
	})
	waitFor(t, 30*time.Second, "no task of "+id, func() bool {
		all, err := c.AllTasks(nil)
		return err == nil && len(all.Tasks) == 0
	})

	// The same client with a wrong secret: 401, which go-marathon maps to
	// ErrCodeUnauthorized; nothing is created.
	bad := marathonClient(t, n, hc, clientPrincipal, "not-the-secret")
	_, err = bad.CreateApplication(new(marathon.Application).Name("/clients/intruder").Command("sleep 1").CPU(0.05).Memory(16).Count(1))
	var apiErr *marathon.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrCode != marathon.ErrCodeUnauthorized {
		t.Fatalf("CreateApplication with a wrong secret: %v, want go-marathon's ErrCodeUnauthorized", err)
	}
	if apiErr.Error() == "" {
		t.Errorf("401 without a message")
	}
	if _, err := bad.Applications(nil); !errors.As(err, &apiErr) || apiErr.ErrCode != marathon.ErrCodeUnauthorized {
		t.Errorf("Applications with a wrong secret: %v, want ErrCodeUnauthorized", err)
	}
	if _, err := c.Application("/clients/intruder"); !errors.As(err, &apiErr) || apiErr.ErrCode != marathon.ErrCodeNotFound {
		t.Errorf("the refused app exists: %v", err)
	}
}
