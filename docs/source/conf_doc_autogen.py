"""Settings of hdmf_docutils.generate_format_docs (read by name by that module)."""

import os

import pynwb

spec_input_spec_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "spec")
spec_input_namespace_filename = "ndx-encoding-subspace.namespace.yaml"
spec_input_default_namespace = "ndx-encoding-subspace"
spec_output_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_format_auto_docs")
spec_output_master_filename = "format_spec_main.inc"
spec_output_doc_filename = "format_spec_doc.inc"
spec_output_src_filename = "format_spec_sources.inc"
spec_output_doc_type_hierarchy_filename = "format_spec_type_hierarchy.inc"
spec_clean_output_dir_if_old_git_hash = True
spec_skip_doc_autogen_if_current_git_hash = False
spec_show_yaml_src = True
spec_show_hierarchy_plots = False
spec_generate_src_file = True
spec_file_per_type = True
spec_show_subgroups_in_seperate_table = True
spec_appreviate_main_object_doc_in_tables = True
spec_show_title_for_tables = True
spec_table_depth_char = "."
spec_add_latex_clearpage_after_ndt_sections = True
spec_resolve_type_inc = False
spec_default_type_map = pynwb.get_type_map()
spec_group_spec_cls = pynwb.spec.NWBGroupSpec
spec_dataset_spec_cls = pynwb.spec.NWBDatasetSpec
spec_namespace_spec_cls = pynwb.spec.NWBNamespace
