rule retrieval_table:
    input:
        get_retrieval_scores,
    output:
        table=report(
            "results/tables/retrieval_{dataset}.csv",
            caption="../report/retrieval_table.rst",
            category="Caption-image retrieval",
        ),
        figure=report(
            "results/figures/retrieval_{dataset}.png",
            caption="../report/retrieval_figure.rst",
            category="Caption-image retrieval",
        ),
    params:
        k=get_figure_k,
    log:
        "logs/retrieval_table/{dataset}.log",
    conda:
        "../../envs/score.yaml"
    script:
        "../../scripts/retrieval_table.py"
