# The output lists of jobs whose outputs follow the config (common.smk `output_list`); included last, after every
# rule has registered its list.


rule output_list:
    output:
        "results/.output_lists/{job}/{run}.txt",
    log:
        "logs/output_list/{job}/{run}.log",
    benchmark:
        "benchmarks/output_list/{job}/{run}.tsv"
    wildcard_constraints:
        job=one_of(list(OUTPUT_LISTS)),
    localrule: True
    conda:
        ENV_DATA
    params:
        files=lambda wildcards: OUTPUT_LISTS[wildcards.job],
    shell:
        "printf '%s\\n' {params.files:q} > {output} 2> {log}"
