"""The watched repository's specs: Pipeline and Environment (apiVersion reconciler.ml/v1alpha1).

``models`` holds the typed, validated form; ``loading`` reads YAML safely with positions;
``validation`` turns documents into models or a list of ``SpecError``; ``schema`` prints
the JSON Schema for editors.
"""
