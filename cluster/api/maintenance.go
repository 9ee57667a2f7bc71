package api

// Mesos maintenance primitives (https://mesos.apache.org/documentation/latest/maintenance/;
// include/mesos/v1/maintenance/maintenance.proto and the MachineID,
// Unavailability and InverseOfferStatus messages of mesos.proto), in
// Mesos' JSON form.

// TimeInfo is Mesos' TimeInfo: nanoseconds since the Unix epoch.
type TimeInfo struct {
	Nanoseconds int64 `json:"nanoseconds"`
}

// MachineID names a machine by hostname, IP, or both (Mesos requires at
// least one). Hostnames are case-insensitive; the master keeps them in
// lower case, as Mesos does.
type MachineID struct {
	Hostname string `json:"hostname,omitempty"`
	IP       string `json:"ip,omitempty"`
}

// String is the hostname, else the IP: the machine's name in messages and
// the object of the maintenance ACLs.
func (id MachineID) String() string {
	if id.Hostname != "" {
		return id.Hostname
	}
	return id.IP
}

// Unavailability is when a machine may be unavailable: from Start, for
// Duration (none: indefinitely).
type Unavailability struct {
	Start    *TimeInfo     `json:"start"`
	Duration *DurationInfo `json:"duration,omitempty"`
}

// MaintenanceWindow is a set of machines and their unavailability.
type MaintenanceWindow struct {
	MachineIDs     []MachineID    `json:"machine_ids"`
	Unavailability Unavailability `json:"unavailability"`
}

// MaintenanceSchedule is the cluster's one schedule: POST
// /maintenance/schedule replaces it.
type MaintenanceSchedule struct {
	Windows []MaintenanceWindow `json:"windows"`
}

// InverseOfferStatus is a framework's answer to an inverse offer for a
// machine (Mesos' InverseOfferStatus).
type InverseOfferStatus struct {
	Status      string   `json:"status"` // UNKNOWN, ACCEPT or DECLINE
	FrameworkID ID       `json:"framework_id"`
	Timestamp   TimeInfo `json:"timestamp"`
}

// DrainingMachine is a scheduled machine that is not down, with the
// frameworks' answers to its inverse offers.
type DrainingMachine struct {
	ID       MachineID            `json:"id"`
	Statuses []InverseOfferStatus `json:"statuses"`
}

// MaintenanceStatus is Mesos' maintenance ClusterStatus: GET
// /maintenance/status.
type MaintenanceStatus struct {
	DrainingMachines []DrainingMachine `json:"draining_machines"`
	DownMachines     []MachineID       `json:"down_machines"`
}

// InverseOffer asks a framework to give back what it uses on an agent
// whose machine is scheduled for maintenance, by the unavailability's
// start (Mesos' InverseOffer; resources empty: the whole agent).
type InverseOffer struct {
	ID             ID             `json:"id"`
	FrameworkID    ID             `json:"framework_id"`
	AgentID        ID             `json:"agent_id"`
	Unavailability Unavailability `json:"unavailability"`
}

// InverseOffersEvent is the INVERSE_OFFERS event.
type InverseOffersEvent struct {
	InverseOffers []InverseOffer `json:"inverse_offers"`
}

// RescindInverseOfferEvent withdraws an inverse offer.
type RescindInverseOfferEvent struct {
	InverseOfferID ID `json:"inverse_offer_id"`
}

// InverseOffersCall is the body of ACCEPT_INVERSE_OFFERS and
// DECLINE_INVERSE_OFFERS: the framework is not asked again about those
// agents for Filters.RefuseSeconds (default 5).
type InverseOffersCall struct {
	InverseOfferIDs []ID     `json:"inverse_offer_ids"`
	Filters         *Filters `json:"filters,omitempty"`
}
