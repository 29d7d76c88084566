package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
)

// RoleSpec is the desired state of a PostgreSQL role. Only safe attributes
// are offered: a Role is never a superuser, never creates roles, never
// replicates and never bypasses row-level security.
// +kubebuilder:validation:XValidation:rule="has(self.resourceID) == has(oldSelf.resourceID) && (!has(self.resourceID) || self.resourceID == oldSelf.resourceID)",message="resourceID cannot change: a new name is a new role",fieldPath=".resourceID",reason=FieldValueForbidden
type RoleSpec struct {
	commonv1.ManagedSpec `json:",inline"`

	// Login lets the role log in (a user); false makes it a group role.
	// +optional
	Login bool `json:"login,omitempty"`

	// PasswordSecretRef is the Secret, in this namespace, holding the
	// role's password. A missing Secret is created with a generated
	// password (and owned by this Role). An existing one is used only if
	// this Role created it or it carries the label
	// postgres.infraplane.dev/role-password=true, which only someone who
	// may write Secrets can set: a Role cannot make the controller read a
	// Secret its author may not read. Changing the Secret's value changes
	// the password. Unset: the role has no password managed by infraplane.
	// +optional
	PasswordSecretRef *PasswordSecretRef `json:"passwordSecretRef,omitempty"`

	// ConnectionLimit is the most concurrent connections of the role; -1
	// (default) means no limit.
	// +optional
	// +kubebuilder:default=-1
	// +kubebuilder:validation:Minimum=-1
	ConnectionLimit *int32 `json:"connectionLimit,omitempty"`

	// Inherit makes the role use the privileges of the roles it is a
	// member of (default true).
	// +optional
	// +kubebuilder:default=true
	Inherit *bool `json:"inherit,omitempty"`

	// CreateDB lets the role create databases.
	// +optional
	CreateDB bool `json:"createdb,omitempty"`

	// MemberOf lists the roles this role is a member of: roles that Role
	// objects of this namespace manage, and those the ProviderConfig lists
	// in spec.postgres.allowedMemberships (predefined pg_* and cloud admin
	// roles only when listed there). Superuser-like roles are always
	// refused (membership would let it become superuser), and so are the
	// predefined roles that reach the server's files or programs.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.all(r, !(r in ['pg_read_server_files', 'pg_write_server_files', 'pg_execute_server_program']))",message="memberOf cannot include pg_read_server_files, pg_write_server_files or pg_execute_server_program: they give access to the server's files and programs"
	MemberOf []string `json:"memberOf,omitempty"`

	// Privileges are the role's privileges on databases. Privileges the
	// role was granted directly on a database that is not listed (or not
	// listed here) are revoked.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Privileges []DatabasePrivileges `json:"privileges,omitempty"`
}

// PasswordSecretLabel marks a Secret that Roles of its namespace may use
// as their password Secret (value "true"). Roles may use only Secrets they
// created themselves and Secrets with this label: whoever may create a Role
// (a team's editors, its repository) may not read Secrets, and a Role that
// used any Secret would let them turn one (a git token, a cloud key) into
// a database password and test guesses against status.passwordHash.
const PasswordSecretLabel = "postgres.infraplane.dev/role-password"

// GeneratedDataAnnotation is on a Secret a Role created: a digest of the
// Secret's data as the Role last wrote it. A Secret whose data no longer
// matches was changed by someone else (a person rotating the password, or
// an apply over the Role's Secret under a name the Role took first): the
// Role lets go of it (its owner reference goes, so deleting the Role does
// not delete what someone else wrote) and goes on using it, but writes
// nothing more into it.
const GeneratedDataAnnotation = "postgres.infraplane.dev/generated-data"

// ReleasedFromAnnotation is on a Secret a Role let go of (see
// GeneratedDataAnnotation): the Role's UID. That Role may go on using it.
const ReleasedFromAnnotation = "postgres.infraplane.dev/released-from-role"

// PasswordSecretRef names a key of a Secret in the Role's namespace.
type PasswordSecretRef struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Key in the Secret's data, "password" by default.
	// +optional
	// +kubebuilder:default=password
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]{1,253}$`
	Key string `json:"key,omitempty"`
	// GenerateMissingKey adds a generated password under key when the
	// Secret exists but has no value there; otherwise that is an error.
	// For a Secret someone else writes with the connection's other
	// settings (host, port, database, user), such as a Blueprint's
	// credentials Secret (labelled postgres.infraplane.dev/role-password=true
	// by its writer): the Role fills in only the password. The Secret stays
	// its writer's (it is not owned by the Role).
	// +optional
	GenerateMissingKey bool `json:"generateMissingKey,omitempty"`
}

// DatabasePrivilege is a privilege on a database.
// +kubebuilder:validation:Enum=CONNECT;CREATE;TEMPORARY
type DatabasePrivilege string

// DatabasePrivileges grants privileges on one database.
type DatabasePrivileges struct {
	// DatabaseRef is a Database in this namespace (name) or an existing
	// database's name (external).
	DatabaseRef commonv1.ResourceRef `json:"databaseRef"`
	// Privileges granted on it.
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	Privileges []DatabasePrivilege `json:"privileges"`
}

// RoleObservation is what the server reported about the role.
type RoleObservation struct {
	// +optional
	Login bool `json:"login,omitempty"`
	// +optional
	ConnectionLimit int32 `json:"connectionLimit"`
	// +optional
	Inherit bool `json:"inherit,omitempty"`
	// +optional
	CreateDB bool `json:"createdb,omitempty"`
	// Superuser is reported so that a role made superuser behind
	// infraplane's back shows; infraplane never sets it.
	// +optional
	Superuser bool `json:"superuser,omitempty"`
	// +optional
	MemberOf []string `json:"memberOf,omitempty"`
	// Privileges granted directly, per database: "db: CONNECT,CREATE".
	// +optional
	Privileges []string `json:"privileges,omitempty"`
}

// RoleStatus is the observed state of a role.
type RoleStatus struct {
	commonv1.ManagedStatus `json:",inline"`

	// Observed is what the server reported on the last read.
	// +optional
	Observed *RoleObservation `json:"observed,omitempty"`

	// PasswordHash identifies the password last set from the Secret (a
	// SHA-256 salted with the Role's and the Secret's UIDs, never the
	// password), so a changed Secret is noticed. Whoever cannot read the
	// Secret cannot test guesses against it.
	// +optional
	PasswordHash string `json:"passwordHash,omitempty"`
}

// Role is a PostgreSQL role (a user when login is true). metadata.name is
// the role name unless spec.resourceID says otherwise.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories={infraplane,postgres},shortName=pgrole
// +kubebuilder:validation:XValidation:rule="(has(self.spec) && has(self.spec.resourceID)) || (self.metadata.name.size() <= 63 && !self.metadata.name.startsWith('pg_'))",message="metadata.name is used as the role name: it must be at most 63 characters and not start with 'pg_' (or set spec.resourceID)",fieldPath=".metadata"
// +kubebuilder:validation:XValidation:rule="!has(self.spec) || !has(self.spec.resourceID) || (self.spec.resourceID.size() <= 63 && !self.spec.resourceID.startsWith('pg_'))",message="spec.resourceID is the role name: at most 63 characters, not starting with 'pg_' (reserved by PostgreSQL)",fieldPath=".spec.resourceID"
// +kubebuilder:printcolumn:name="READY",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="SYNCED",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].status`
// +kubebuilder:printcolumn:name="DRIFTED",type=string,JSONPath=`.status.conditions[?(@.type=="Drifted")].status`
// +kubebuilder:printcolumn:name="LOGIN",type=boolean,JSONPath=`.spec.login`
// +kubebuilder:printcolumn:name="REASON",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].reason`,priority=1
// +kubebuilder:printcolumn:name="RESOURCE",type=string,JSONPath=`.status.selfLink`,priority=1
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`
type Role struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +kubebuilder:default={}
	Spec RoleSpec `json:"spec,omitempty"`
	// +kubebuilder:default={observedGeneration:-1}
	Status RoleStatus `json:"status,omitempty"`
}

// RoleList is a list of roles.
// +kubebuilder:object:root=true
type RoleList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Role `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Role{}, &RoleList{})
}
