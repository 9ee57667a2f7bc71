package e2e

import (
	"encoding/json"
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
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
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
		t.Errorf("ApplicationOK is false: GET /v2/apps/{id} has no tasks")
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

// go-marathon's group calls, unchanged: CreateGroup of a group with a
// nested group and a dependency, WaitOnApplication (which needs the tasks
// GET /v2/apps/{id} always carries), WaitOnGroup, Group, Groups,
// DeleteGroup; the dependency starts first and the group is gone after.
func TestClientsGoMarathonGroups(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n, hc := clientsStartNode(t)
	c := marathonClient(t, n, hc, clientPrincipal, clientSecret)

	db := new(marathon.Application).Name("/cg/db").Command("sleep " + appMark(7101)).CPU(0.05).Memory(16).Count(1)
	web := new(marathon.Application).Name("/cg/web").Command("sleep " + appMark(7102)).CPU(0.05).Memory(16).Count(2).DependsOn("/cg/db")
	job := new(marathon.Application).Name("/cg/inner/job").Command("sleep " + appMark(7103)).CPU(0.05).Memory(16).Count(1)
	g := &marathon.Group{ID: "/cg", Apps: []*marathon.Application{db, web},
		Groups: []*marathon.Group{{ID: "/cg/inner", Apps: []*marathon.Application{job}}}}
	if err := c.CreateGroup(g); err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	for _, id := range []string{"/cg/db", "/cg/web", "/cg/inner/job"} {
		if err := c.WaitOnApplication(id, 60*time.Second); err != nil {
			t.Fatalf("WaitOnApplication %s: %v", id, err)
		}
	}
	if err := c.WaitOnGroup("/cg", 60*time.Second); err != nil {
		t.Fatalf("WaitOnGroup: %v", err)
	}
	// db started before web: its task is the oldest.
	dbApp, err := c.Application("/cg/db")
	if err != nil || len(dbApp.Tasks) != 1 {
		t.Fatalf("Application /cg/db: %+v %v", dbApp, err)
	}
	webApp, err := c.Application("/cg/web")
	if err != nil || len(webApp.Tasks) != 2 {
		t.Fatalf("Application /cg/web: %+v %v", webApp, err)
	}
	for _, wt := range webApp.Tasks {
		if wt.StagedAt < dbApp.Tasks[0].StartedAt {
			t.Errorf("web task staged at %s, before db started at %s", wt.StagedAt, dbApp.Tasks[0].StartedAt)
		}
	}

	got, err := c.Group("/cg")
	if err != nil {
		t.Fatalf("Group: %v", err)
	}
	if got.ID != "/cg" || len(got.Apps) != 2 || len(got.Groups) != 1 || got.Groups[0].ID != "/cg/inner" || len(got.Groups[0].Apps) != 1 {
		t.Errorf("Group /cg: %+v", got)
	}
	all, err := c.Groups()
	if err != nil {
		t.Fatalf("Groups: %v", err)
	}
	if all.ID != "/" || len(all.Groups) != 1 || all.Groups[0].ID != "/cg" {
		t.Errorf("Groups: %+v", all)
	}
	if ok, err := c.HasGroup("/cg"); err != nil || !ok {
		t.Errorf("HasGroup: %v %v", ok, err)
	}

	// DELETE /v2/leader (an admin's call): the only master steps down and
	// is elected again; the group's tasks survive the new term.
	electedAt := func() float64 {
		var st struct {
			ElectedTime float64 `json:"elected_time"`
		}
		_, b := appDo(t, n, "GET", "/master/state", "")
		_ = json.Unmarshal(b, &st)
		return st.ElectedTime
	}
	before := electedAt()
	if code, body := appDo(t, n, "DELETE", "/v2/leader", ""); code != 200 {
		t.Fatalf("DELETE /v2/leader: %d %s", code, body)
	}
	waitFor(t, 60*time.Second, "a new term, with /cg/db's task", func() bool {
		a, err := c.Application("/cg/db")
		return err == nil && len(a.Tasks) == 1 && a.Tasks[0].ID == dbApp.Tasks[0].ID && a.TasksRunning == 1 && electedAt() > before
	})

	dep, err := c.DeleteGroup("/cg", false)
	if err != nil {
		t.Fatalf("DeleteGroup: %v", err)
	}
	if dep.DeploymentID == "" {
		t.Errorf("DeleteGroup: no deployment id")
	}
	waitFor(t, 60*time.Second, "group /cg gone", func() bool {
		ok, err := c.HasGroup("/cg")
		return err == nil && !ok
	})
	waitFor(t, 60*time.Second, "no task of /cg", func() bool {
		all, err := c.AllTasks(nil)
		return err == nil && len(all.Tasks) == 0
	})
}
