package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"

	"nodectl/cluster"
	"nodectl/cluster/apps"
	"nodectl/cluster/auth"
	"nodectl/cluster/pki"
	"nodectl/embed"
	"nodectl/runtime"
	"nodectl/runtime/exetrim"
)

// shutdownBudget bounds the whole staged shutdown.
const shutdownBudget = 10 * time.Second

// bindAddr is host:port for a listener ("" host binds every address).
func (cfg Config) bindAddr(port int) string { return net.JoinHostPort(cfg.IP, strconv.Itoa(port)) }

// advertised is host:port others use to reach a port of this node.
func (cfg Config) advertised(port int) string {
	return net.JoinHostPort(cfg.AdvertiseIP, strconv.Itoa(port))
}

// startupSettle is how long after "nodectl up" the node returns its
// start-up memory: the leader's election, the agent's registration and
// their first writes are done by then on an idle machine.
const startupSettle = time.Second

// Run runs a node until ctx ends, then stops it in stages:
// HTTP → cluster loops → agent → etcd. Logs go to stderr (unless cfg.Quiet)
// and to cfg.LogDir. cfg must have been validated (Validate).
func Run(ctx context.Context, cfg Config, stderr io.Writer) (err error) {
	// One owner per work dir, before anything else touches it.
	lock, err := lockWorkDir(cfg.WorkDir, cfg.Role)
	if err != nil {
		return err
	}
	defer lock.Close()
	logs, err := newLogging(cfg, stderr)
	if err != nil {
		return err
	}
	defer logs.Close()
	mainRole := cfg.Role
	if mainRole == "all" {
		mainRole = "master"
	}
	if cfg.Token != "" {
		logs.RedactValues(tokenSecret(cfg.Token))
	}
	log := logs.logger(mainRole).With("component", "node")
	if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		return fmt.Errorf("create work dir: %w", err)
	}
	start := time.Now()
	// POST /node/upgrade ends the run this way (node_upgrade.go).
	ctx, stopForUpgrade := context.WithCancelCause(ctx)
	defer stopForUpgrade(nil)
	cfg.upgrader = newNodeUpgrader(cfg, func(exe string) { stopForUpgrade(&errUpgradeRestart{Exe: exe}) }, log)
	if cfg.runsAgent() {
		// Before anything starts: every thread moves with the process.
		runtime.JoinSystemCgroup(cfg.CgroupsRoot, int64(cfg.ReservedResources.Scalar("mem"))<<20, os.Getpid(), log)
	}

	var (
		etcdSrv   *embed.Server
		etcdCli   *clientv3.Client
		master    *cluster.Master
		appsFw    *apps.Apps
		users     *auth.Users
		agent     *runtime.Agent
		servers   []*http.Server
		listeners []net.Listener
		reserve   *spaceReserve // etcd's (etcd_reserve.go)
	)
	defer func() {
		if etcdCli != nil {
			_ = etcdCli.Close()
		}
		if etcdSrv != nil {
			etcdSrv.Close()
		}
	}()

	var masterPKI *pki.Setup
	if cfg.runsMaster() {
		if reserve, err = sizeSpaceReserve(cfg.WorkDir, cfg.etcdDir(), log); err != nil {
			return err
		}
	}
	var atls *agentTLS
	// buildAgent makes the agent (runtime.New: its checkpoint store, cgroups,
	// container driver). A --role=all node does it while its etcd elects
	// itself (startMaster's onPKI); an agent alone, here.
	var agentBuilt chan error
	buildAgent := func(masterPKI *pki.Setup) {
		agentBuilt = make(chan error, 1)
		go func() {
			// The agent talks HTTPS with its certificate (docs/security.md).
			var err error
			if atls, err = prepareAgentTLS(ctx, cfg, masterPKI); err != nil {
				agentBuilt <- err
				return
			}
			var leaderKnown func() bool
			if cfg.runsMaster() { // master is set before the agent runs
				leaderKnown = func() bool { return master.LeaderKnownLive() }
			}
			agent, err = runtime.New(runtime.Config{
				WorkDir: cfg.WorkDir, Hostname: cfg.Hostname, IP: cfg.AdvertiseIP, Port: cfg.AgentPort,
				Masters: atls.masters, HTTPClient: atls.client, Scheme: "https", Resources: withDefaultRole(cfg.Resources, cfg.Roles.DefaultRole), Attributes: cfg.Attributes,
				RegistrationBackoffFactor: cfg.RegistrationBackoffFactor, LeaderKnown: leaderKnown, Flags: cfg.Flags,
				ExecutorShutdownGracePeriod: cfg.ExecutorShutdownGrace, InsecureRegistries: cfg.InsecureRegistries, AllowedHostPaths: cfg.AllowedHostPaths,
				TaskHiddenPaths: cfg.TaskHiddenPaths, SeccompConfigDir: cfg.SeccompConfigDir, SeccompProfileName: cfg.SeccompProfileName,
				NoSwitchUser: cfg.NoSwitchUser,
				Recover:      cfg.Recover, Strict: cfg.Strict, RecoveryTimeout: cfg.RecoveryTimeout, ReconfigurationPolicy: cfg.ReconfigurationPolicy, BootID: cfg.BootID,
				EnforceContainerDiskQuota: cfg.EnforceDiskQuota, CgroupsEnableCFS: cfg.CgroupsEnableCFS, CgroupsFavorDynMods: cfg.CgroupsFavorDynMods, WarmContainers: cfg.WarmContainers, ContainerDiskWatchInterval: cfg.DiskWatchInterval,
				UsageInterval: cfg.UsageInterval, UsageHistory: cfg.UsageHistory, ExecutorRegistrationTimeout: cfg.ExecutorRegistrationTimeout,
				DiskFullBelow: reserve.keep(),
				CgroupsRoot:   cfg.CgroupsRoot, SystemReserved: cfg.ReservedResources, Fetcher: cfg.Fetcher,
				NetworkCNIConfigDir: cfg.CNIConfigDir, NetworkCNIPluginsDir: cfg.CNIPluginsDir, DNS: cfg.DNS.runtime(cfg.AdvertiseIP),
				GCDelay: cfg.SandboxGC.GCDelay, GCDiskHeadroom: cfg.SandboxGC.GCDiskHeadroom, DiskWatchInterval: cfg.SandboxGC.DiskWatchInterval, ImageGC: cfg.SandboxGC.ImageGC,
				Logger: logs.logger("agent"), LogFile: logs.logFile("agent"),
			})
			agentBuilt <- err
		}()
	}
	// agentReady waits for buildAgent; after an error nothing of the agent
	// is left to close.
	agentReady := func() error {
		if agentBuilt == nil {
			return nil
		}
		err := <-agentBuilt
		agentBuilt = nil
		return err
	}
	if cfg.runsMaster() {
		masterLog := cfg.ExternalLogFile // served by the files API (docs/ui.md)
		if masterLog == "" {
			masterLog = logs.logFile("master")
		}
		var onPKI func(*pki.Setup)
		if cfg.runsAgent() {
			onPKI = buildAgent
		}
		mr, err := startMaster(ctx, cfg, logs, masterLog, onPKI)
		if err != nil {
			if agentReady() == nil && agent != nil {
				agent.Close()
			}
			return err
		}
		etcdSrv, etcdCli, master, appsFw, users = mr.etcd, mr.cli, mr.master, mr.apps, mr.users
		servers, listeners = append(servers, mr.srv), append(listeners, mr.ln)
		masterPKI = mr.pki
		if err = reserve.start(); err != nil {
			if agentReady() == nil && agent != nil {
				agent.Close()
			}
			closeAll(listeners)
			return err
		}
	}
	var execLn net.Listener
	if cfg.runsAgent() {
		if agentBuilt == nil {
			buildAgent(nil)
		}
		if err := agentReady(); err != nil {
			closeAll(listeners)
			return err
		}
		defer agent.Close() // the storage stage: after everything else has stopped
		if master != nil {  // --role=all: servers[0] is the master's
			servers[0].Handler = allInOneHealth(servers[0].Handler, agent.Registered)
		}
		agentMux := http.NewServeMux()
		files, err := runtime.FilesHandler(runtime.FilesConfig{WorkDir: cfg.WorkDir, AgentID: agent.ID, LogFile: logs.logFile("agent")})
		if err != nil {
			return err
		}
		agentMux.Handle("GET /files/", files)
		agentMux.Handle("GET /slave(1)/files/", files)
		agentMux.Handle(runtime.ExecPattern, agent.ExecHandler()) // exec sessions, proxied by the master
		// Upgrades: the admin certificate only (the master port's route
		// needs upgrade_nodes, superusers only).
		for _, rt := range cfg.upgrader.routes() {
			agentMux.Handle(rt.Pattern, pki.RequireNode(pki.RoleAdmin)(rt.Handler))
		}
		agentMux.Handle("/", agent.Handler())
		srv, ln, err := listen(cfg.bindAddr(cfg.AgentPort), agentPortAuth(agentMux), logs.logger("agent"), cfg.MaxConnections)
		if err != nil {
			closeAll(listeners)
			return fmt.Errorf("agent API: %w", err)
		}
		ln = tls.NewListener(ln, atls.serverTLS())
		servers, listeners = append(servers, srv), append(listeners, ln)
		// The executor API: plain HTTP on loopback, callers identified by
		// the kernel (runtime/executor_http.go, docs/executors.md).
		if execLn, err = agent.ListenExecutorAPI(); err != nil { // the previous port for recovered executors
			closeAll(listeners)
			return fmt.Errorf("executor API: %w", err)
		}
	}

	// Stage contexts are cancelled one after another on shutdown.
	masterCtx, stopMaster := context.WithCancel(context.Background())
	defer stopMaster()
	agentCtx, stopAgent := context.WithCancel(context.Background())
	defer stopAgent()
	failed := make(chan error, 8)
	var httpG, masterG, agentG errgroup.Group
	for i, srv := range servers {
		httpG.Go(func() error {
			if err := srv.Serve(listeners[i]); !errors.Is(err, http.ErrServerClosed) {
				failed <- fmt.Errorf("serve %s: %w", listeners[i].Addr(), err)
			}
			return nil
		})
	}
	if master != nil {
		masterG.Go(func() error {
			if err := master.Run(masterCtx); err != nil {
				failed <- err
			}
			return nil
		})
		masterG.Go(func() error { return users.Run(masterCtx) })
		masterG.Go(func() error { reserve.run(masterCtx); return nil })
		masterG.Go(func() error {
			if err := appsFw.Run(masterCtx); err != nil {
				failed <- err
			}
			return nil
		})
		masterG.Go(func() error {
			// The master's own certificate, renewed by its own CA.
			id := masterPKI.Identity
			r, err := pki.NewRenewer(pki.RenewerConfig{Identity: id, Renew: masterPKI.Authority.LocalRenew(id), Logger: logs.logger("master")})
			if err == nil {
				err = r.Run(masterCtx)
			}
			if err != nil {
				failed <- fmt.Errorf("certificate renewal: %w", err)
			}
			return nil
		})
		if cfg.SnapshotInterval > 0 {
			masterG.Go(func() error {
				runSnapshots(masterCtx, etcdCli, cfg.snapshotDir(), cfg.SnapshotInterval, cfg.SnapshotRetention, logs.logger("master"))
				return nil
			})
		}
	}
	if agent != nil {
		agentG.Go(func() error {
			if err := agent.Run(agentCtx); err != nil {
				failed <- err
			}
			return nil
		})
		agentG.Go(func() error { return atls.renew(agentCtx, logs.logger("agent")) })
		agentG.Go(func() error {
			if err := agent.ServeExecutorAPI(agentCtx, execLn); err != nil {
				failed <- fmt.Errorf("executor API: %w", err)
			}
			return nil
		})
	}
	go tuneGC(ctx, log) // gcpolicy.go
	if cfg.runsMaster() {
		log.Info("nodectl up", "role", cfg.Role, "api", "https://"+cfg.advertised(cfg.Port)+"/", "ui", "https://"+cfg.advertised(cfg.Port)+"/", "startup", time.Since(start).Round(time.Millisecond))
	} else {
		log.Info("nodectl up", "role", cfg.Role, "agent_api", "https://"+cfg.advertised(cfg.AgentPort)+"/", "masters", atls.masters)
	}
	// Start-up (etcd's bootstrap, certificates, the checkpoint store)
	// leaves tens of MB of garbage the runtime would return to the OS only
	// over minutes: return it now, once. And the binary's pages that
	// start-up touched (package inits all over its code, the embedded
	// helpers copied to a fresh work dir) leave the resident set; those
	// the node goes on using come back at their first touch
	// (runtime/exetrim, docs/performance.md). So do the pages of etcd's
	// database: etcd maps it with MAP_POPULATE (go.etcd.io/etcd/server
	// storage/backend/config_linux.go), which reads the whole file in at
	// start (tens of MB after a busy hour, every revision not yet
	// compacted); the pages etcd goes on reading come back from the file.
	time.AfterFunc(startupSettle, func() {
		debug.FreeOSMemory()
		if _, err := exetrim.Release(false); err != nil {
			log.Debug("release the executable's start-up pages", "err", err)
		}
		if cfg.runsMaster() {
			if _, err := exetrim.PageOut(etcdDBPath(cfg.etcdDir())); err != nil {
				log.Debug("page out etcd's start-up pages", "err", err)
			}
		}
	})

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "reason", context.Cause(ctx))
	case runErr = <-failed:
		if errors.Is(runErr, runtime.ErrCleanupDone) {
			log.Info("recover=cleanup finished: old containers killed; exiting")
			runErr = nil
			break
		}
		log.Error("node failed; shutting down", "err", runErr)
	case runErr = <-etcdSrv.ErrChan():
		if errors.Is(runErr, embed.ErrStopped) {
			runErr = fmt.Errorf("%w (%w)", ErrRemovedMaster, runErr)
		}
		log.Error("etcd failed; shutting down", "err", runErr)
	}
	deadline, cancel := context.WithTimeout(context.Background(), shutdownBudget)
	defer cancel()
	// The agent leaves first (its tasks keep running): stopping the
	// master's servers under it would only make it log a lost master.
	stopAgent()
	_ = agentG.Wait()
	for _, srv := range servers {
		if err := srv.Shutdown(deadline); err != nil {
			_ = srv.Close()
		}
	}
	_ = httpG.Wait()
	stopMaster()
	_ = masterG.Wait()
	if etcdCli != nil {
		_ = etcdCli.Close()
		etcdCli = nil
	}
	if etcdSrv != nil {
		etcdSrv.Close()
		etcdSrv = nil
	}
	if deadline.Err() != nil {
		log.Warn("shutdown exceeded its budget", "budget", shutdownBudget)
	}
	log.Info("stopped")
	var restart *errUpgradeRestart
	if runErr == nil && errors.As(context.Cause(ctx), &restart) {
		return restart
	}
	return runErr
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		_ = ln.Close()
	}
}
