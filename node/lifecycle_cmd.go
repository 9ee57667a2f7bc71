package node

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"nodectl/cluster/api"
	"nodectl/node/appliance"
	"nodectl/node/internal/install"
	"nodectl/node/internal/slots"
)

// installCommand is `nodectl install`: write the appliance to an empty
// disk (docs/appliance.md).
func installCommand() *cli.Command {
	return &cli.Command{
		Name:      "install",
		Usage:     "install the appliance to an empty disk (--disk), or nodectl as a systemd service on this host (--systemd)",
		ArgsUsage: "[-- UP FLAGS (--systemd)]",
		Description: "Run on the appliance booted from the ISO (docs/appliance.md).\n" +
			"Slot A gets the kernel and initramfs of the ISO in the CD drive,\n" +
			"or of --image (a signed update bundle). The disk must be empty\n" +
			"(its first MiB all zeros). Unattended: boot the ISO with\n" +
			"nodectl.install=DISK (or auto: the first empty disk).\n" +
			"--systemd (any Linux host, docs/install.md): copy this binary to\n" +
			"--bin-dir, write nodectl.service running `nodectl up --role ...\n" +
			"--work-dir ... UP FLAGS`, enable and (re)start it. Secret up flags\n" +
			"(--token) go to --env-file (mode 0600), never into the unit.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "disk", Usage: "the whole disk (/dev/vda) or image file to install onto"},
			&cli.StringFlag{Name: "image", Usage: "install from this update bundle (file or http(s) URL) instead of the CD"},
			&cli.StringFlag{Name: "keep-args", Usage: "kernel parameters for the installed system (default: this boot's nodectl.* parameters)"},
		}, systemdFlags()...),
		Action: func(c *cli.Context) error {
			if c.Bool("systemd") {
				return systemdInstall(c)
			}
			for _, f := range systemdFlags()[1:] {
				if c.IsSet(f.Names()[0]) {
					return exitErr(2, "install: --"+f.Names()[0]+" needs --systemd")
				}
			}
			if c.NArg() > 0 {
				return exitErr(2, "install: unexpected argument "+c.Args().First())
			}
			dev := c.String("disk")
			if dev == "" {
				return exitErr(2, "install: --disk is required (the whole disk to install onto, e.g. /dev/vda)")
			}
			st, err := os.Stat(dev)
			if err != nil {
				return exitErr(2, "install: "+err.Error())
			}
			if st.Mode()&os.ModeDevice == 0 && !st.Mode().IsRegular() {
				return exitErr(2, "install: "+dev+" is neither a block device nor an image file")
			}
			if err := install.CheckEmpty(dev); err != nil {
				return exitErr(2, "install: "+err.Error())
			}
			keep := c.String("keep-args")
			if !c.IsSet("keep-args") {
				keep = appliance.KeptArgs()
			}
			if _, err := slots.GrubConfig(keep); err != nil {
				return exitErr(2, "install: --keep-args: "+err.Error())
			}
			err = appliance.Install(appliance.InstallOptions{
				Disk: dev, Image: c.String("image"), Version: api.Version, KeepArgs: keep,
				Log: func(m string) { fmt.Fprintln(c.App.ErrWriter, "install: "+m) },
			})
			if err != nil {
				return exitErr(1, "install: "+err.Error())
			}
			fmt.Fprintf(c.App.Writer, "installed on %s: boot from it without the CD\n", dev)
			return nil
		},
	}
}

// upgradeCommand is `nodectl upgrade`: A/B upgrade of this appliance.
func upgradeCommand() *cli.Command {
	return &cli.Command{
		Name:  "upgrade",
		Usage: "upgrade this appliance: write a signed bundle to the other slot and boot it on trial (--rollback: go back)",
		Description: "--image verifies the bundle (make update-bundle) with the update\n" +
			"key of this system's initramfs, writes the slot that is not running,\n" +
			"boots it on trial and reboots: the new system becomes the default\n" +
			"only once healthy; otherwise the boot loader goes back by itself and\n" +
			"the node reports the failed upgrade (docs/appliance.md).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "image", Usage: "update bundle: a file or an http(s) URL"},
			&cli.BoolFlag{Name: "rollback", Usage: "make the other slot the default again and reboot into it"},
			&cli.BoolFlag{Name: "status", Usage: "show the slots, their versions and the last upgrade's outcome (JSON)"},
			&cli.IntFlag{Name: "tries", Value: 1, Usage: fmt.Sprintf("boots the new slot gets to become healthy (1 to %d)", slots.MaxTries)},
			&cli.BoolFlag{Name: "no-reboot", Usage: "prepare the next boot but do not reboot now"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return exitErr(2, "upgrade: unexpected argument "+c.Args().First())
			}
			n := 0
			for _, f := range []string{"image", "rollback", "status"} {
				if c.IsSet(f) {
					n++
				}
			}
			if n != 1 {
				return exitErr(2, "upgrade: give exactly one of --image, --rollback, --status")
			}
			if t := c.Int("tries"); t < 1 || t > slots.MaxTries {
				return exitErr(2, fmt.Sprintf("upgrade: --tries must be 1 to %d", slots.MaxTries))
			}
			img := c.String("image")
			if c.IsSet("image") {
				if img == "" {
					return exitErr(2, "upgrade: --image is empty")
				}
				if !strings.HasPrefix(img, "http://") && !strings.HasPrefix(img, "https://") {
					if _, err := os.Stat(img); err != nil {
						return exitErr(2, "upgrade: "+err.Error())
					}
				}
			}
			if appliance.BootedSlot() == "" {
				return exitErr(2, "upgrade: this system did not boot from an installed disk (nodectl install first)")
			}
			switch {
			case c.Bool("status"):
				st, err := appliance.Status()
				if err != nil {
					return exitErr(1, "upgrade: "+err.Error())
				}
				b, _ := json.MarshalIndent(st, "", "  ")
				fmt.Fprintln(c.App.Writer, string(b))
				return nil
			case c.Bool("rollback"):
				to, err := appliance.Rollback()
				if err != nil {
					return exitErr(1, "upgrade --rollback: "+err.Error())
				}
				fmt.Fprintf(c.App.Writer, "slot %s is the default again\n", to)
			default:
				slot, version, err := appliance.Upgrade(context.Background(), img, c.Int("tries"))
				if err != nil {
					return exitErr(1, "upgrade: "+err.Error())
				}
				fmt.Fprintf(c.App.Writer, "version %s written to slot %s; it boots on trial next\n", version, slot)
			}
			if c.Bool("no-reboot") {
				return nil
			}
			fmt.Fprintln(c.App.Writer, "rebooting")
			if err := appliance.PowerOff(true); err != nil {
				return exitErr(1, "upgrade: reboot: "+err.Error())
			}
			return nil
		},
	}
}
