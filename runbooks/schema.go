package runbooks

import (
	"encoding/json"
)

// SchemaID is the $id of the runbook JSON Schema.
const SchemaID = "https://cordon.dev/schemas/runbook-v1.json"

// JSONSchema returns the JSON Schema (draft 2020-12) of the runbook format,
// generated from the same shape declaration the compiler checks against.
// Action names are listed from the catalog so editors complete them.
func JSONSchema(actionNames []string) ([]byte, error) {
	s := runbookShape()
	doc := shapeSchema(s, actionNames, "")
	doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	doc["$id"] = SchemaID
	doc["title"] = "Cordon runbook"
	return json.MarshalIndent(doc, "", "  ")
}

func shapeSchema(s *shape, actionNames []string, fieldName string) map[string]any {
	out := map[string]any{}
	if s.desc != "" {
		out["description"] = s.desc
	}
	switch s.kind {
	case kindObject:
		props := map[string]any{}
		var required []string
		for _, f := range s.fields {
			props[f.name] = shapeSchema(f.shape, actionNames, f.name)
			if f.required {
				required = append(required, f.name)
			}
		}
		out["type"] = "object"
		out["properties"] = props
		out["additionalProperties"] = false
		if required != nil {
			out["required"] = required
		}
	case kindMap:
		out["type"] = "object"
		out["additionalProperties"] = shapeSchema(s.elem, actionNames, "")
	case kindList:
		out["type"] = "array"
		out["items"] = shapeSchema(s.elem, actionNames, "")
	case kindString:
		// YAML scalars such as account ids may be numbers; the compiler
		// reads any scalar as text, so the schema accepts them too.
		out["type"] = []string{"string", "number", "boolean"}
		if s.enum != nil {
			out["enum"] = s.enum
		}
		if s.pattern != "" {
			out["type"] = "string"
			out["pattern"] = s.pattern
		}
		if fieldName == "action" && len(actionNames) > 0 {
			out["type"] = "string"
			out["enum"] = actionNames
		}
	case kindInt:
		out["type"] = "integer"
	case kindBool:
		out["type"] = "boolean"
	case kindDuration:
		out["type"] = "string"
		out["pattern"] = s.pattern
	case kindOneOf:
		alts := make([]any, len(s.alts))
		for i, a := range s.alts {
			alts[i] = shapeSchema(a, actionNames, fieldName)
		}
		out["oneOf"] = alts
	case kindAny:
	}
	return out
}
