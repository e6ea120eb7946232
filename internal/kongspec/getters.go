package kongspec

// Read access to a Field for the code that serves and stores entities (the
// emulator). The builder methods (Required, Default, ...) set these.

// Name is the field's name in its record; "" for array, set and map elements.
func (f *Field) Name() string { return f.name }

// Type is Kong's type name: string, integer, number, boolean, array, set,
// map, record, foreign or json.
func (f *Field) Type() string { return f.typ }

// Fields are a record's fields.
func (f *Field) Fields() []*Field { return f.fields }

// IsAuto reports a field Kong fills itself (ids, timestamps, generated keys).
func (f *Field) IsAuto() bool { return f.auto }

// IsUUID reports a field holding a UUID.
func (f *Field) IsUUID() bool { return f.uuid }

// IsTimestamp reports a created_at/updated_at style field.
func (f *Field) IsTimestamp() bool { return f.timestamp }

// IsUnique reports a field whose value is unique among the entity's rows.
func (f *Field) IsUnique() bool { return f.unique }

// IsEqNull reports a field that must stay null (typedefs.no_consumer & co).
func (f *Field) IsEqNull() bool { return f.eqNull }

// Reference is the entity a foreign field points to.
func (f *Field) Reference() string { return f.reference }

// OnDeleteAction is what deleting the referenced row does ("cascade", or ""
// to refuse).
func (f *Field) OnDeleteAction() string { return f.onDelete }

// Timestamp marks an auto field as a timestamp.
func (f *Field) Timestamp() *Field { f.timestamp = true; return f }
