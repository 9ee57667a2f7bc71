// Package image is the agent's image store: it pulls images from registries,
// loads docker-save and OCI layout archives, imports plain rootfs tarballs,
// unpacks each layer once, and gives every container a writable root
// filesystem over the shared read-only layers.
//
// On disk, under Config.Dir (normally <work_dir>/images):
//
//	oci-layout, index.json   an OCI image layout; index.json holds one descriptor per
//	                         stored name, annotated with the name as the user typed it
//	blobs/sha256/<hex>       manifests, configs and compressed layers, stored once by digest
//	layers/sha256/<hex>/     each layer unpacked once, keyed by its diff ID; whiteouts are
//	                         kept in overlayfs form (char 0:0, trusted.overlay.opaque=y)
//	leases/<key>.json        one per prepared container rootfs: what it uses, so GC keeps it
//	tmp/                     scratch space on the same filesystem (renamed into place)
//	lock, index.lock         flock(2) files: shared for writers, exclusive for GC
//
// Every operation is safe under concurrent use by goroutines of one process
// and by several processes (the agent and the `nodectl image` command).
// Blob and layer writes land under tmp/ and are renamed into place, so a
// crash never leaves a half-written blob or layer under its final name.
//
// Layer extraction goes through an os.Root on the target directory, so no
// archive entry can create, follow or link to anything outside it; entries
// that try (.. components, absolute paths, writes through symlinks pointing
// outside, hardlinks to outside) and device nodes or fifos are refused with
// ErrUnsafeEntry naming the entry.
//
// This package imports no other nodectl package.
package image
