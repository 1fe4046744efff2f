// The report page's charts (Chart.js, vendored next to this file), drawn from the JSON block
// #report-data that the server renders (leadsync.service.views.report_charts). No inline
// script: the page's Content-Security-Policy allows this site's static scripts only.
(function () {
  "use strict";

  var CELL_COLOURS = {
    "good/hand_raiser": "#1b7f3b",
    "good/sales_ready": "#4caf50",
    "good/unready": "#a5d6a7",
    "good/do_not_contact": "#607d8b",
    "poor/hand_raiser": "#b54708",
    "poor/sales_ready": "#f79009",
    "poor/unready": "#fedf89",
    "poor/do_not_contact": "#98a2b3",
  };
  var SPARE = ["#3e63dd", "#8e4ec6", "#d6409f", "#12a594", "#ad7f58", "#6f6e77"];
  var GREEN = "#17803d";
  var RED = "#b42318";
  var GREY = "#98a2b3";
  var INK = "#1d2430";
  // Category labels (months, recycle steps) never overlap: Chart.js turns them up to 45
  // degrees, then shows every other one (or fewer) rather than letting them collide.
  var CATEGORY_TICKS = { autoSkip: true, autoSkipPadding: 12, minRotation: 0, maxRotation: 45 };
  // The lift axis (log scale) labels 1-2-5 steps only ("0.1", "0.2", "0.5", "1", "2", ...),
  // flat, skipping more where they would still touch.
  var LIFT_TICKS = {
    autoSkip: true,
    autoSkipPadding: 12,
    minRotation: 0,
    maxRotation: 0,
    callback: function (value) {
      var step = value / Math.pow(10, Math.floor(Math.log10(value)));
      step = Math.round(step * 100) / 100;
      return [1, 2, 5].indexOf(step) >= 0 ? String(Number(value.toPrecision(2))) : "";
    },
  };

  function pct(value) {
    return value === null || value === undefined ? "-" : Math.round(value * 100) + "%";
  }

  function shareText(s) {
    if (!s.n) return "0/0";
    return s.k + "/" + s.n + " " + pct(s.rate) + " (" + pct(s.low) + "-" + pct(s.high) + ")";
  }

  function colour(name, i) {
    return CELL_COLOURS[name] || SPARE[i % SPARE.length];
  }

  // A vertical line at lift 1 (no difference) on the lift charts' x axis.
  var noLiftLine = {
    id: "noLiftLine",
    afterDatasetsDraw: function (chart) {
      var x = chart.scales.x;
      var area = chart.chartArea;
      var at = x.getPixelForValue(1);
      if (at < area.left || at > area.right) return;
      var ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = INK;
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      ctx.moveTo(at, area.top);
      ctx.lineTo(at, area.bottom);
      ctx.stroke();
      ctx.restore();
    },
  };

  function drawMonths(canvas, months) {
    var datasets = months.cells.map(function (cell, i) {
      return {
        type: "bar",
        label: cell.cell,
        data: cell.entered,
        backgroundColor: colour(cell.cell, i),
        stack: "entered",
        yAxisID: "y",
        order: 2,
      };
    });
    var rate = months.conversion.map(function (c) {
      return c.rate === null ? null : c.rate * 100;
    });
    var low = months.conversion.map(function (c) {
      return c.low === null ? null : c.low * 100;
    });
    var high = months.conversion.map(function (c) {
      return c.high === null ? null : c.high * 100;
    });
    datasets.push(
      {
        type: "line",
        label: "converted (share)",
        data: rate,
        borderColor: INK,
        backgroundColor: INK,
        yAxisID: "share",
        order: 0,
      },
      {
        type: "line",
        label: "95% interval, low",
        data: low,
        borderColor: "rgba(29, 36, 48, 0.25)",
        pointRadius: 0,
        yAxisID: "share",
        order: 1,
      },
      {
        type: "line",
        label: "95% interval",
        data: high,
        borderColor: "rgba(29, 36, 48, 0.25)",
        backgroundColor: "rgba(29, 36, 48, 0.12)",
        pointRadius: 0,
        fill: "-1",
        yAxisID: "share",
        order: 1,
      }
    );
    return new Chart(canvas, {
      data: { labels: months.labels, datasets: datasets },
      options: {
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { stacked: true, ticks: CATEGORY_TICKS },
          y: { stacked: true, beginAtZero: true, title: { display: true, text: "people entering" } },
          share: {
            position: "right",
            min: 0,
            max: 100,
            grid: { drawOnChartArea: false },
            title: { display: true, text: "converted within the sales cycle (%)" },
          },
        },
        plugins: {
          legend: {
            labels: {
              filter: function (item) {
                return item.text !== "95% interval, low";
              },
            },
          },
          tooltip: {
            filter: function (item) {
              return item.dataset.label.indexOf("95% interval") !== 0;
            },
            callbacks: {
              label: function (item) {
                if (item.dataset.label === "converted (share)") {
                  return "converted: " + shareText(months.conversion[item.dataIndex]);
                }
                return item.dataset.label + ": " + item.formattedValue;
              },
            },
          },
        },
      },
    });
  }

  function liftLabel(row) {
    var words = row.kind === "fit" ? [" good, ", " poor)"] : [" with, ", " without)"];
    var text = row.label + " (" + row.with_n + words[0] + row.without_n + words[1];
    return row.flag ? [text, row.flag] : text;
  }

  function drawLift(canvas, rows) {
    var shown = rows.filter(function (r) {
      return r.ratio !== null;
    });
    var skipped = rows.length - shown.length;
    canvas.parentNode.style.height = 70 + 44 * shown.length + "px";
    function interval(flagged) {
      return shown.map(function (r) {
        return (r.flag === "revisit your ICP") === flagged ? [r.low, r.high] : null;
      });
    }
    return new Chart(canvas, {
      type: "bar",
      plugins: [noLiftLine],
      data: {
        labels: shown.map(liftLabel),
        datasets: [
          {
            label: "95% interval: predicts conversion",
            data: interval(false),
            backgroundColor: "rgba(23, 128, 61, 0.35)",
            borderColor: GREEN,
            borderWidth: 1,
            grouped: false,
            barPercentage: 0.5,
          },
          {
            label: "95% interval: revisit your ICP",
            data: interval(true),
            backgroundColor: "rgba(180, 35, 24, 0.3)",
            borderColor: RED,
            borderWidth: 1,
            grouped: false,
            barPercentage: 0.5,
          },
          {
            type: "line",
            label: "lift",
            data: shown.map(function (r) {
              return r.ratio;
            }),
            showLine: false,
            pointStyle: "rectRot",
            pointRadius: 6,
            borderColor: INK,
            backgroundColor: INK,
          },
        ],
      },
      options: {
        indexAxis: "y",
        maintainAspectRatio: false,
        scales: {
          x: {
            type: "logarithmic",
            ticks: LIFT_TICKS,
            title: {
              display: true,
              text:
                "conversion lift (log scale; dashed line: 1, no difference)" +
                (skipped ? "; " + skipped + " without enough leads not shown" : ""),
            },
          },
          y: {
            ticks: {
              color: function (ctx) {
                var row = shown[ctx.index];
                return row && row.flag ? RED : INK;
              },
            },
          },
        },
        plugins: {
          tooltip: {
            callbacks: {
              label: function (item) {
                var r = shown[item.dataIndex];
                return (
                  "lift " + r.ratio.toFixed(2) + " (" + r.low.toFixed(2) + "-" + r.high.toFixed(2) +
                  "), " + liftLabel(r).toString().replace(r.label + " ", "") +
                  (r.flag ? ": " + r.flag : "")
                );
              },
            },
          },
        },
      },
    });
  }

  function drawRecycle(canvas, flow) {
    var labels = ["handed off", "recycled", "re-qualified", "converted after recycle"];
    var datasets = [
      {
        label: "people",
        data: [flow.handed_off, null, flow.requalified, flow.converted],
        backgroundColor: [INK, null, GREEN, "#3e63dd"],
      },
    ];
    var reasons = flow.by_reason.length
      ? flow.by_reason
      : [{ reason: "recycled", recycled: flow.recycled }];
    reasons.forEach(function (row, i) {
      datasets.push({
        label: row.reason,
        data: [null, row.recycled, null, null],
        backgroundColor: flow.by_reason.length ? SPARE[i % SPARE.length] : GREY,
      });
    });
    return new Chart(canvas, {
      type: "bar",
      data: { labels: labels, datasets: datasets },
      options: {
        maintainAspectRatio: false,
        scales: {
          x: { stacked: true, ticks: CATEGORY_TICKS },
          y: { stacked: true, beginAtZero: true, title: { display: true, text: "people" } },
        },
        plugins: {
          legend: {
            labels: {
              filter: function (item) {
                return item.text !== "people";
              },
            },
          },
          tooltip: {
            filter: function (item) {
              return item.raw !== null;
            },
          },
        },
      },
    });
  }

  function draw() {
    var block = document.getElementById("report-data");
    if (!block || typeof Chart === "undefined") return;
    var data = JSON.parse(block.textContent);
    Chart.defaults.font.family = "system-ui, sans-serif";
    Chart.defaults.color = INK;
    var drawn = 0;
    var canvas = document.getElementById("chart-months");
    if (canvas) {
      drawMonths(canvas, data.months);
      drawn += 1;
    }
    ["criteria", "rules"].forEach(function (key) {
      var lift = document.getElementById("chart-lift-" + key);
      if (lift) {
        drawLift(lift, data.lift[key]);
        drawn += 1;
      }
    });
    canvas = document.getElementById("chart-recycle");
    if (canvas && data.recycle) {
      drawRecycle(canvas, data.recycle);
      drawn += 1;
    }
    document.body.setAttribute("data-charts", String(drawn));
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
